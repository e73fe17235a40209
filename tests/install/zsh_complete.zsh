# SPDX-License-Identifier: MIT
# Type command lines followed by TAB into an interactive zsh (on a
# pseudo-terminal, zsh/zpty) whose fpath starts with FPATHDIR and which has
# run compinit, and print each line as completion left it, one per line.
# usage: zsh -f zsh_complete.zsh FPATHDIR WORKDIR LINE...
zmodload zsh/zpty || exit 1
dir=$1 work=$2
shift 2
zpty z zsh -f -i || exit 1
zpty -w z "PS1='%% '; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D;" \
	"setopt nobeep; cd ${(q)work}"
for line in "$@"; do
	zpty -wn z "$line"$'\t'
	sleep 0.3
	# Back to the start of the line and print it: R""ESULT: tells the
	# output apart from the echo of what was typed.
	zpty -wn z $'\C-aprint -r -- R""ESULT:\n'
	zpty -r z out $'*RESULT:*\n' || { print -u2 "no answer from zsh to: $line"; exit 1 }
	print -r -- "${${out##*RESULT:}%%$'\r'*}"
done
zpty -d z
