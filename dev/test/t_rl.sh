#!/usr/bin/env bash
# RL (rl.c, doc/rl.md): advantages and Countdown (rl_tasks_test), the weighted loss's gradients
# against PyTorch (test_gpt2 on a debug state with per-token weights), 5 GRPO steps against
# PyTorch on fixed rollouts (dev/rl_ref.py), rewards against dev/eval_chat.py's exact match and an
# independent Python Countdown checker, sampling determinism (replaying a run's rollouts gives
# the same weights), and one-line errors. Needs: rl, test_gpt2, build/test/rl_tasks_test.
source "$(dirname "$0")/lib.sh"
tmpdir rl
rm -rf "$TMP"; mkdir -p "$TMP" # rl refuses to start a fresh run over an earlier run's checkpoints
if ! make -s rl test_gpt2 gpt2_tokenizer.bin build/test/rl_tasks_test > "$TMP/build.log" 2>&1; then
    notok build "$(tail -n 5 "$TMP/build.log" | tr '\n' ' ')"
    finish
fi

# ---- unit checks: advantages on hand-worked groups, Countdown checker and generator, JSON lines
if out=$(build/test/rl_tasks_test 2>&1); then ok rl_tasks_test; else notok rl_tasks_test "$(printf '%s' "$out" | grep -m3 FAIL | tr '\n' '|')"; fi

# ---- the weighted cross-entropy's gradients and 3 AdamW steps against PyTorch (with a mask too)
if "$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 300 --block_size 32 --batch_size 2 \
     --seq_len 16 --weights 1 --ignore_frac 0.3 --steps 3 --output_dir "$TMP/wref" > "$TMP/wref.log" 2>&1; then
    if out=$(./test_gpt2 -e "$TMP/wref/model.bin" -s "$TMP/wref/debug_state.bin" 2>&1) && printf '%s' "$out" | grep -q "per-token loss weights"; then
        ok weighted_loss_grads_vs_pytorch
    else
        notok weighted_loss_grads_vs_pytorch "$(printf '%s' "$out" | grep -m3 -E 'FAIL|error' | tr '\n' '|')"
    fi
    # a debug state whose weights are cut off is refused, naming the file
    head -c -8 "$TMP/wref/debug_state.bin" > "$TMP/wref/cut.bin"
    expect_die weighted_state_truncated "cut.bin.*truncated" ./test_gpt2 -e "$TMP/wref/model.bin" -s "$TMP/wref/cut.bin"
else
    notok weighted_loss_grads_vs_pytorch "train_gpt2.py failed: $(tail -n 1 "$TMP/wref.log")"
fi

# ---- a tiny chat-vocabulary model (random weights) for the loop's checks
if ! "$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 50267 --block_size 48 --batch_size 1 \
       --seq_len 8 --steps 0 --output_dir "$TMP/init" > "$TMP/init.log" 2>&1; then
    notok tiny_chat_model "$(tail -n 1 "$TMP/init.log")"
    finish
fi
M="$TMP/init/model.bin"

# ---- 5 GRPO steps, C against PyTorch, on the same fixed rollouts (tokens and rewards)
"$PY" dev/rl_ref.py --make "$TMP/roll.bin" --model "$M" --steps 5 -P 2 -K 4 -n 8 > /dev/null
if ./rl -e "$M" -o "$TMP/par" --replay "$TMP/roll.bin" -P 2 -K 4 -x 5 -n 8 -l 1e-3 --kl 0.1 > "$TMP/par.log" 2>&1 &&
   out=$("$PY" dev/rl_ref.py --model "$M" --rollouts "$TMP/roll.bin" --log "$TMP/par/main.log" \
         --final "$TMP/par/model_00000005.bin" -K 4 -l 1e-3 --kl 0.1 2>&1); then
    ok grpo_5_steps_vs_pytorch
else
    notok grpo_5_steps_vs_pytorch "$(printf '%s' "$out" | grep -m2 FAIL | tr '\n' '|') $(tail -n 1 "$TMP/par.log")"
fi
# the comparison can fail: the same C run against a reference without the KL term must not match
if "$PY" dev/rl_ref.py --model "$M" --rollouts "$TMP/roll.bin" --log "$TMP/par/main.log" \
     --final "$TMP/par/model_00000005.bin" -K 4 -l 1e-3 --kl 0 > /dev/null 2>&1; then
    notok grpo_parity_detects_a_difference "a reference without the KL penalty matched"
else
    ok grpo_parity_detects_a_difference
fi
if ./rl -e "$M" -o "$TMP/par0" --replay "$TMP/roll.bin" -P 2 -K 4 -x 5 -n 8 -l 1e-3 --std 0 > "$TMP/par0.log" 2>&1 &&
   out=$("$PY" dev/rl_ref.py --model "$M" --rollouts "$TMP/roll.bin" --log "$TMP/par0/main.log" \
         --final "$TMP/par0/model_00000005.bin" -K 4 -l 1e-3 --std 0 2>&1); then
    ok grpo_5_steps_vs_pytorch_mean_only
else
    notok grpo_5_steps_vs_pytorch_mean_only "$(printf '%s' "$out" | grep -m2 FAIL | tr '\n' '|')"
fi

# ---- rewards: C's exact match against dev/eval_chat.py's, on held-out questions with replies
# that are right, padded with whitespace, or near misses
"$PY" dev/data/chat_synth.py --out "$TMP/synth" --train 50 --heldout 12 --rl 4 > /dev/null
"$PY" - "$TMP" <<'EOF'
import json, random, sys
t = sys.argv[1]
rng = random.Random(5)
items = [json.loads(l) for l in open(t + "/synth/heldout.jsonl")]
with open(t + "/scored.jsonl", "w") as f, open(t + "/replies.txt", "w") as r:
    for d in items:
        a = d["answer"]
        reply = rng.choice([a, " " + a + "\n", "\t" + a + " \x0b", a + ".", a[:-1], "", a + " " + a, a.upper(), "\u00a0" + a])
        f.write(json.dumps(dict(d, reply=reply)) + "\n")
        r.write(json.dumps(reply) + "\n")
EOF
printf '#!/bin/sh\ncat "%s"\n' "$(cd "$TMP" && pwd)/replies.txt" > "$TMP/fake_chat.sh" && chmod +x "$TMP/fake_chat.sh"
if c_scores=$(./rl score "$TMP/scored.jsonl") && why=$("$PY" - "$TMP" "$c_scores" <<'EOF'
import json, sys
t, c = sys.argv[1], [float(x) for x in sys.argv[2].split()]
py = [float(json.loads(l)["reply"].strip() == json.loads(l)["answer"]) for l in open(t + "/scored.jsonl")]
bad = [i for i, (a, b) in enumerate(zip(c, py)) if a != b]
if len(c) != len(py) or bad or not (0 < sum(py) < len(py)):
    raise SystemExit(f"{len(c)} vs {len(py)} scores, differing at {bad[:5]}")
EOF
) && acc=$("$PY" dev/eval_chat.py -e "$M" --heldout "$TMP/synth/heldout.jsonl" --chat "$TMP/fake_chat.sh" | tail -n 1) &&
   [ "$acc" = "$(printf '%s\n' $c_scores | awk '{s += $1} END {printf "accuracy %.3f", s / NR}')" ]; then
    ok rewards_equal_eval_chat_exact_match
else
    notok rewards_equal_eval_chat_exact_match "${why:-} ${acc:-}"
fi

# ---- Countdown rewards against an independent Python checker (fractions, an AST walk)
"$PY" - "$TMP" <<'EOF'
import json, random, sys
t = sys.argv[1]
rng = random.Random(3)
with open(t + "/cd.jsonl", "w") as f:
    for i in range(400):
        nums = [rng.randint(1, 10) for _ in range(rng.randint(2, 5))]
        target = rng.randint(1, 60)
        pool = nums + [rng.randint(1, 12)]
        toks = []
        right = rng.random() < 0.4  # from the given numbers, and the target is its value
        order = rng.sample(nums, len(nums))
        for k in range(rng.randint(1, len(nums)) if right else rng.randint(1, 5)):
            if k:
                toks.append(rng.choice("+-*" if right else "+-*/"))
            toks.append(str(order[k] if right else rng.choice(pool)))
        e = " ".join(toks)
        if right:
            target = eval(e)
        if rng.random() < 0.3 and len(toks) > 2:
            e = "(" + e.replace(" ", "", 3) + ")" + rng.choice(["", " * 2", "+1"])
        if rng.random() < 0.1:
            e = e + " = " + str(rng.randint(1, 60))
        if rng.random() < 0.1:
            e = rng.choice(["-", "(", "", "x", "3 3"]) + e
        prompt = "Use the numbers " + ", ".join(map(str, nums)) + f" to make {target} with + - * / and parentheses, each at most once."
        f.write(json.dumps({"task": "countdown", "prompt": prompt, "answer": "", "reply": e}) + "\n")
EOF
if c_scores=$(./rl score "$TMP/cd.jsonl") && why=$("$PY" - "$TMP" "$c_scores" <<'EOF'
import ast, json, re, sys
from collections import Counter
from fractions import Fraction
t, c = sys.argv[1], [float(x) for x in sys.argv[2].split()]

class Bad(Exception):
    pass

def value(node, used):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        a, b = value(node.left, used), value(node.right, used)
        if isinstance(node.op, ast.Add): return a + b
        if isinstance(node.op, ast.Sub): return a - b
        if isinstance(node.op, ast.Mult): return a * b
        if b == 0 or (a / b).denominator != 1: raise Bad()
        return a / b
    raise Bad()

def reward(d):
    nums = [int(x) for x in re.findall(r"\d+", d["prompt"].split(" to make ")[0])]
    target = int(d["prompt"].split(" to make ")[1].split()[0])
    e = d["reply"].strip()
    stated = None
    if "=" in e:
        e, s = e.split("=", 1)
        if not re.fullmatch(r"\s*\d+", s): return 0.0
        stated = int(s)
    if not re.fullmatch(r"[\d\s+\-*/()]+", e) or re.search(r"\d\s+\d", e) or re.search(r"\b0\d", e): return 0.0
    try:
        tree = ast.parse(e.strip(), mode="eval").body
        used = []
        v = value(tree, used)
    except (Bad, SyntaxError):
        return 0.0
    if Counter(used) - Counter(nums): return 0.0
    if stated is not None and stated != v: return 0.0
    return float(v == target)

py = [reward(json.loads(l)) for l in open(t + "/cd.jsonl")]
bad = [i for i, (a, b) in enumerate(zip(c, py)) if a != b]
if len(c) != len(py) or bad or sum(py) < 5:
    raise SystemExit(f"{len(c)} vs {len(py)} scores, {sum(py)} right in Python, differing at lines {[i + 1 for i in bad[:5]]}")
EOF
); then ok countdown_rewards_equal_python_checker; else notok countdown_rewards_equal_python_checker "$why"; fi

# ---- a sampling run: log lines, checkpoint, and replaying its rollouts gives the same weights
if ./rl -e "$M" -o "$TMP/run" --tasks "$TMP/synth/rl.jsonl" --eval "$TMP/synth/heldout.jsonl" -P 2 -K 3 -x 2 -n 6 \
     --eval_samples 2 --rollouts "$TMP/run_roll.bin" > "$TMP/run.log" 2>&1 &&
   grep -qE '^s:2 rew:[0-9.]+ pass1:[0-9.]+ passk:[0-9.]+ len:[0-9.]+ loss:[-0-9.]+ nll:[0-9.]+ kl:[0-9.]+ norm:[0-9.]+ t_sample:[0-9.]+ t_train:[0-9.]+$' "$TMP/run/main.log" &&
   [ "$(grep -c '^s:[02] eval:[0-9.]* pass2:[0-9.]* pass1s:[0-9.]*$' "$TMP/run/main.log")" = 2 ] &&
   grep -q '^pass@1 before [0-9.]* after [0-9.]*' "$TMP/run.log"; then
    ok rl_run_logs_and_evaluates
else
    notok rl_run_logs_and_evaluates "$(tail -n 2 "$TMP/run.log" | tr '\n' '|')"
fi
if ./rl -e "$M" -o "$TMP/rerun" --replay "$TMP/run_roll.bin" -P 2 -K 3 -x 2 -n 6 > "$TMP/rerun.log" 2>&1 &&
   cmp -s "$TMP/run/model_00000002.bin" "$TMP/rerun/model_00000002.bin"; then
    ok replay_of_sampled_rollouts_same_weights
else
    notok replay_of_sampled_rollouts_same_weights "$(tail -n 1 "$TMP/rerun.log")"
fi
if ./rl -e "$M" -o "$TMP/run2" --tasks "$TMP/synth/rl.jsonl" -P 2 -K 3 -x 2 -n 6 --rollouts "$TMP/run2_roll.bin" > /dev/null 2>&1 &&
   cmp -s "$TMP/run_roll.bin" "$TMP/run2_roll.bin"; then
    ok same_seed_same_samples
else
    notok same_seed_same_samples "two runs with seed 1 sampled different rollouts"
fi

# ---- resume (-y 1): a resumed run equals an uninterrupted one bit for bit: the model, AdamW's
# state, the rollouts, and main.log but for its timing fields; with the KL term and evaluations
# during the run, so every input of a step is restored (model, m, v, step, problem RNG)
rargs=(-e "$M" --tasks "$TMP/synth/rl.jsonl" --eval "$TMP/synth/heldout.jsonl" -P 2 -K 3 -n 6 --eval_samples 2
       --eval_every 3 --kl 0.05 -l 1e-3 --checkpoint_every 1 --checkpoints_keep 0)
untimed() { sed -E 's/ t_sample:[0-9.]+ t_train:[0-9.]+$//' "$1"; }
# same_run NAME DIR: DIR's results equal the uninterrupted run's
same_run() {
    local f why=""
    for f in model_00000006.bin state_00000006_00000.bin; do
        cmp -s "$TMP/straight/$f" "$2/$f" || why="$why $f differs;"
    done
    cmp -s "$TMP/straight_roll.bin" "$2.roll" || why="$why rollouts differ;"
    [ "$(untimed "$TMP/straight/main.log")" = "$(untimed "$2/main.log")" ] || why="$why main.log differs;"
    if [ -z "$why" ]; then ok "$1"; else notok "$1" "$why"; fi
}
start=$(date +%s%N)
if ./rl "${rargs[@]}" -x 6 -o "$TMP/straight" --rollouts "$TMP/straight_roll.bin" > "$TMP/straight.log" 2>&1; then
    run_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    # deterministic: the run as a kill after step 3's checkpoint leaves it (later checkpoints not
    # DONE, the rollouts and the log already past step 3)
    cp -r "$TMP/straight" "$TMP/mid" && cp "$TMP/straight_roll.bin" "$TMP/mid.roll"
    rm -f "$TMP/mid"/DONE_0000000[456]
    if ./rl "${rargs[@]}" -x 6 -o "$TMP/mid" --rollouts "$TMP/mid.roll" -y 1 > "$TMP/mid.log" 2>&1 &&
       grep -q "resumed from step 3" "$TMP/mid.log"; then
        same_run resume_from_step_3_equals_straight "$TMP/mid"
    else
        notok resume_from_step_3_equals_straight "$(tail -n 2 "$TMP/mid.log" | tr '\n' '|')"
    fi
    # killed at random moments (SIGKILL), resumed each time, then finished
    RANDOM=20261203
    kills=0
    for cycle in 1 2 3 4 5; do
        ./rl "${rargs[@]}" -x 6 -o "$TMP/killed" --rollouts "$TMP/killed.roll" -y 1 > "$TMP/cycle.log" 2>&1 &
        pid=$!
        delay_ms=$(( RANDOM % (run_ms / 4 + 10) + 5 ))
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        if kill -KILL $pid 2> /dev/null; then kills=$((kills + 1)); fi
        wait $pid 2> /dev/null
    done
    if ./rl "${rargs[@]}" -x 6 -o "$TMP/killed" --rollouts "$TMP/killed.roll" -y 1 > "$TMP/killed.log" 2>&1; then
        same_run "killed_${kills}_times_and_resumed_equals_straight" "$TMP/killed"
    else
        notok killed_and_resumed_equals_straight "$(tail -n 2 "$TMP/killed.log" | tr '\n' '|')"
    fi
    # a fresh run where checkpoints are is refused (it would mix two runs)
    expect_die fresh_run_over_checkpoints "resume it with -y 1" ./rl "${rargs[@]}" -x 6 -o "$TMP/straight"
    expect_die resume_past_x "past -x 2" ./rl "${rargs[@]}" -x 2 -o "$TMP/straight" -y 1
else
    notok rl_resume_reference_run "$(tail -n 2 "$TMP/straight.log" | tr '\n' '|')"
fi

# ---- errors: one line naming the flag or file
T="$TMP/synth/rl.jsonl"
expect_die no_model "flag -e" ./rl -o "$TMP/e" --tasks "$T"
expect_die no_tasks "exactly one" ./rl -e "$M" -o "$TMP/e"
expect_die tasks_and_countdown "exactly one" ./rl -e "$M" -o "$TMP/e" --tasks "$T" --countdown 2
expect_die countdown_range "countdown" ./rl -e "$M" -o "$TMP/e" --countdown 9
expect_die K_one "-K" ./rl -e "$M" -o "$TMP/e" --tasks "$T" -K 1
expect_die bad_lr "-l" ./rl -e "$M" -o "$TMP/e" --tasks "$T" -l nan
expect_die unknown_flag "unknown flag '--bogus'" ./rl -e "$M" -o "$TMP/e" --tasks "$T" --bogus 1
expect_die missing_tasks_file "nope.jsonl" ./rl -e "$M" -o "$TMP/e" --tasks "$TMP/nope.jsonl"
printf '{"task": "a", "prompt": "b", "answer": "c"}\n{"task": "a", "prompt": 3}\n' > "$TMP/badtasks.jsonl"
expect_die malformed_tasks_line "badtasks.jsonl:2" ./rl -e "$M" -o "$TMP/e" --tasks "$TMP/badtasks.jsonl"
expect_die reply_longer_than_context "do not fit" ./rl -e "$M" -o "$TMP/e" --tasks "$T" -n 100
expect_die replay_shape "expected 6 rows" ./rl -e "$M" -o "$TMP/e" --replay "$TMP/roll.bin" -P 3 -K 2 -x 1 -n 8
head -c 100 "$TMP/roll.bin" > "$TMP/roll_cut.bin"
expect_die replay_truncated "roll_cut.bin" ./rl -e "$M" -o "$TMP/e" --replay "$TMP/roll_cut.bin" -P 2 -K 4 -x 1 -n 8
expect_die base_model_refused "--chat_vocab" ./rl -e "$TMP/wref/model.bin" -o "$TMP/e" --tasks "$T"
expect_die bad_checkpoint "badtasks.jsonl" ./rl -e "$TMP/badtasks.jsonl" -o "$TMP/e" --tasks "$T"
finish
