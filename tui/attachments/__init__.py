"""What goes with a question besides its words: text files and images, read and checked here.

The engine never touches a file: the front ends (through the `Session`, and `quorum mcp` with its
project rule) read each attachment here and hand the engine immutable values. `text` reads a
file attached as text (`Attachment`), `images` an image (`Image`); `changes` says whether a file a
recorded run sent is still on disk as it was, for a rerun or follow-up of that run. Every path is
read through `tui.files.read_limited`: regular files only, never more than a limit.
"""
