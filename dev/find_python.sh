#!/usr/bin/env bash
# Finds the Python 3 that has the modules the project's Python scripts need. The python3 first
# on PATH (pyenv, conda, a venv) often lacks them while Debian's /usr/bin/python3 has them after
# scripts/setup.sh, so no script may assume `python3` is the right one.
#
#   source dev/find_python.sh [MODULE...]   sets PY; returns 1 (PY_ERROR says why) if none fits
#   dev/find_python.sh [MODULE...]          prints the path, or a one-line error and exits 1
#
# MODULE defaults to "numpy torch". Candidates in order: $PY (the user's choice, kept when it
# fits), python3 on PATH, /usr/bin/python3, /usr/local/bin/python3, python3.N on PATH. Modules
# are looked up without importing them (importing torch takes seconds).

find_python() {
    local mods=("$@") cand found="" tried=()
    [ ${#mods[@]} -eq 0 ] && mods=(numpy torch)
    local check="import importlib.util, sys
sys.exit(any(importlib.util.find_spec(m) is None for m in sys.argv[1:]))"
    local cands=()
    [ -n "${PY:-}" ] && cands+=("$PY")
    cands+=(python3 /usr/bin/python3 /usr/local/bin/python3)
    for cand in $(compgen -c python3. 2> /dev/null | grep -E '^python3\.[0-9]+$' | sort -u); do
        cands+=("$cand")
    done
    for cand in "${cands[@]}"; do
        cand=$(command -v "$cand" 2> /dev/null) || continue
        case " ${tried[*]:-} " in *" $cand "*) continue ;; esac
        tried+=("$cand")
        if "$cand" -c "$check" "${mods[@]}" 2> /dev/null; then found=$cand; break; fi
    done
    if [ -n "$found" ]; then
        PY=$found
        PY_ERROR=""
        return 0
    fi
    PY_ERROR="error: no Python 3 with ${mods[*]} found (tried: ${tried[*]:-none}); run scripts/setup.sh, or set PY=/path/to/python3 that has them"
    return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    if find_python "$@"; then echo "$PY"; else echo "$PY_ERROR" >&2; exit 1; fi
else
    # sourced: keep the caller's PY when nothing fits, so its own error names what ran
    _fp_old_py=${PY:-}
    if find_python "$@"; then
        export PY
        unset _fp_old_py
    else
        PY=${_fp_old_py:-python3}
        unset _fp_old_py
        false
    fi
fi
