// SPDX-License-Identifier: GPL-3.0-or-later
// Flamenco 3 custom job type "FaceForge": one FaceForge command line split into shards,
// one task per shard, each running `blender -b -c faceforge COMMAND --shard I/N` on a
// worker. Shards are independent and resumable: a requeued task finishes what its shard
// left (the command carries --resume: the manifest in the output folder knows what is
// done). Shards count from 1, as --shard I/N does. Put this file in the
// Manager's `scripts/` folder; `faceforge farm flamenco` also writes a job to submit.

const JOB_TYPE = {
    label: "FaceForge",
    settings: [
        { key: "command", type: "string", required: true,
          description: "faceforge command line after 'faceforge' (shell-quoted), with " +
                       "paths every worker sees, e.g. lipsync /studio/head.blend /studio/voices -o /studio/out" },
        { key: "shards", type: "int32", default: 8, required: true,
          description: "How many tasks the plan is split into" },
        { key: "blender_args", type: "string", default: "-b",
          description: "Blender options before -c faceforge" },
    ],
};

// Split a shell-quoted command line into words ('single', "double", backslash escapes).
function splitCommand(line) {
    const words = [];
    let word = null, quote = null;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (quote === "'") {
            if (c === "'") quote = null; else word += c;
        } else if (quote === '"') {
            if (c === '"') quote = null;
            else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
            else word += c;
        } else if (c === "'" || c === '"') {
            quote = c; if (word === null) word = "";
        } else if (c === "\\" && i + 1 < line.length) {
            word = (word || "") + line[++i];
        } else if (/\s/.test(c)) {
            if (word !== null) { words.push(word); word = null; }
        } else {
            word = (word || "") + c;
        }
    }
    if (quote) throw `command has an unclosed ${quote} quote`;
    if (word !== null) words.push(word);
    return words;
}

function compileJob(job) {
    const settings = job.settings;
    const shards = settings.shards;
    if (!(shards >= 1)) throw "shards must be at least 1";
    const command = splitCommand(settings.command);
    if (command.length === 0) throw "command is empty";
    if (command.includes("--shard")) throw "command must not hold --shard: the job adds it";
    const before = splitCommand(settings.blender_args || "");
    for (let i = 1; i <= shards; i++) {
        const task = author.Task(`faceforge-${i}of${shards}`, "blender");
        task.addCommand(author.Command("exec", {
            exe: "{blender}",
            args: before.concat(["-c", "faceforge"], command, ["--shard", `${i}/${shards}`]),
        }));
        job.addTask(task);
    }
}
