# SPDX-License-Identifier: Apache-2.0
# bash completion for timetiles-backup (installed as
# /usr/share/bash-completion/completions/timetiles-backup). The CLI completes
# itself: given COMP_LINE and COMP_POINT it prints the candidates, one a line
# (hashicorp/cli with posener/complete; options from each command's --help).
_timetiles_backup() {
    local IFS=$'\n'
    COMPREPLY=($(COMP_LINE="$COMP_LINE" COMP_POINT="$COMP_POINT" "${COMP_WORDS[0]}" 2>/dev/null))
}
complete -o default -F _timetiles_backup timetiles-backup
