"""Scale-out layer of the command line: one deterministic plan per command, run by
whichever runner is asked for (in-process, `--workers N` local processes, `--cluster`
Ray, or one `--shard I/N` of it on a render farm), with a manifest and resume beside
the outputs. Nothing here is needed by the Blender UI; Ray is imported only when
`--cluster` is given."""
