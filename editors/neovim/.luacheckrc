-- luacheck configuration for the Neovim plugin (run by scripts/lint.sh and the README's test command).
std = "luajit"
globals = { "vim" }
-- Code and comments stay readable; long expected strings in specs may run on.
max_code_line_length = 140
max_comment_line_length = 140
max_string_line_length = false
