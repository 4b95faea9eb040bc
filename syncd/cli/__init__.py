"""The `syncd` command line. Each module holds a few related commands; imports stay lazy so that
read commands like `syncd status` start fast."""
