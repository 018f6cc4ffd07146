"""What each `pettrack` command does, one module per command: its checks, its run and what it
prints, as a `run` function taking the command's options.

pipelines/cli.py is the table of commands and their options; it imports a command's module only
when that command runs, so `--help` and usage errors answer before any of this (or the libraries
it needs) loads. The work itself is the library's: model/, tracker/ and the pipelines beside this
folder.
"""
