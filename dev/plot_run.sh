#!/usr/bin/env bash
# After a training run: draws DIR/main.log's losses into DIR/loss.png (dev/plot_loss.py, with the
# Python that has matplotlib) and says where the run's files are. The run itself needs no Python,
# so a missing matplotlib only skips the picture, with a line saying how to get it.
#   dev/plot_run.sh DIR
dir=${1:?usage: dev/plot_run.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/main.log" ] || exit 0  # no log: the run wrote nothing (-o "")
if py=$("$here/find_python.sh" numpy matplotlib 2> /dev/null); then
    if "$py" "$here/plot_loss.py" "$dir/main.log" "$dir/loss.png" > /dev/null; then
        echo "loss curve: $dir/loss.png; samples: $dir/samples.txt; log: $dir/main.log"
    else
        echo "note: dev/plot_loss.py could not draw $dir/main.log" >&2
    fi
else
    echo "note: no Python with matplotlib for the loss curve (scripts/setup.sh installs it); samples: $dir/samples.txt" >&2
fi
