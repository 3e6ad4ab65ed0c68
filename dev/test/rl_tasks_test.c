/*
 * rl_tasks_test: unit checks of llmc/grpo.h (advantages on hand-worked groups) and llmc/tasks.h
 * (Countdown's expression checker, its generator, the JSON-lines reader). Prints one line per
 * check and exits non-zero if any failed.
 */
#include <math.h>
#include <stdio.h>

#include "llmc/grpo.h"
#include "llmc/tasks.h"

static int fails = 0, checks = 0;

static void expect(int cond, const char *what) {
    checks++;
    if (!cond) {
        fails++;
        printf("FAIL %s\n", what);
    }
}

// A group of 4 rewards against advantages worked out by hand.
static void group(const char *name, const float r[4], int std, float eps, const double want[4]) {
    float adv[4];
    grpo_advantages(r, adv, 1, 4, std, eps);
    int ok = 1;
    for (int j = 0; j < 4; j++) ok &= fabs(adv[j] - want[j]) <= 1e-6 * (1 + fabs(want[j]));
    if (!ok) printf("     got %g %g %g %g, want %g %g %g %g\n", adv[0], adv[1], adv[2], adv[3], want[0], want[1], want[2], want[3]);
    expect(ok, name);
}

static const int NUMS[3] = {3, 7, 25}, SEVENS[3] = {7, 7, 25};

static void cd(const char *reply, const int *nums, int target, int want, const char *why_part) {
    const char *why = NULL;
    int got = countdown_check(reply, strlen(reply), nums, 3, target, &why);
    char name[200];
    snprintf(name, sizeof(name), "countdown '%s' -> %d%s%s", reply, want, why_part ? " because " : "", why_part ? why_part : "");
    int ok = got == want && (want || (why && why_part && strstr(why, why_part)));
    if (!ok) printf("     got %d (%s)\n", got, why ? why : "no reason");
    expect(ok, name);
}

int main(void) {
    // ---- advantages: reward minus the group mean, optionally over the group's std (+ eps)
    const float all_right[4] = {1, 1, 1, 1}, all_wrong[4] = {0, 0, 0, 0}, one[4] = {1, 0, 0, 0}, ties[4] = {1, 1, 0, 0},
                half[4] = {0.5f, 0.5f, 1, 0};
    const double zero[4] = {0, 0, 0, 0};
    group("all right: 0 (mean only)", all_right, 0, 0, zero);
    group("all right: 0 (std, eps 0: no 0/0)", all_right, 1, 0, zero);
    group("all wrong: 0 (std)", all_wrong, 1, 1e-4f, zero);
    const double one_mean[4] = {0.75, -0.25, -0.25, -0.25};
    group("one right of 4: r - 1/4", one, 0, 0, one_mean);
    // std = sqrt((0.75^2 + 3 * 0.25^2) / 4) = sqrt(3) / 4: advantages sqrt(3) and -1/sqrt(3)
    const double one_std[4] = {sqrt(3.0), -1 / sqrt(3.0), -1 / sqrt(3.0), -1 / sqrt(3.0)};
    group("one right of 4 over std: sqrt(3), -1/sqrt(3)", one, 1, 0, one_std);
    const double ties_mean[4] = {0.5, 0.5, -0.5, -0.5}, ties_std[4] = {1, 1, -1, -1};
    group("ties 2 of 4: +-1/2", ties, 0, 0, ties_mean);
    group("ties 2 of 4 over std 1/2: +-1", ties, 1, 0, ties_std);
    const double ties_eps[4] = {0.5 / 0.6, 0.5 / 0.6, -0.5 / 0.6, -0.5 / 0.6};
    group("ties over std + eps 0.1: +-0.5/0.6", ties, 1, 0.1f, ties_eps);
    const double half_std[4] = {0, 0, sqrt(2.0), -sqrt(2.0)}; // std = sqrt(0.5 / 4)
    group("partial rewards 0.5 0.5 1 0 over std", half, 1, 0, half_std);
    { // several groups at once: each uses its own mean
        float r[8] = {1, 1, 1, 1, 1, 0, 0, 0}, a[8];
        grpo_advantages(r, a, 2, 4, 0, 0);
        expect(a[0] == 0 && a[3] == 0 && fabsf(a[4] - 0.75f) < 1e-7f && fabsf(a[7] + 0.25f) < 1e-7f, "two groups are separate");
    }

    // ---- Countdown checker
    cd("3*7+25", NUMS, 46, 1, NULL);
    cd("  25 + 7 * 3 \n", NUMS, 46, 1, NULL);
    cd("(25 + 7) * 3 - 50", NUMS, 46, 0, "not among the given");
    cd("25+7*3 = 46", NUMS, 46, 1, NULL);
    cd("25+7*3=47", NUMS, 46, 0, "stated result");
    cd("25+7*3 =", NUMS, 46, 0, "nothing after");
    cd("(25 + 7) * 3", NUMS, 46, 0, "not the target");
    cd("25 + 21", NUMS, 46, 0, "not among the given");
    cd("3*3+25", NUMS, 34, 0, "more often than given");
    cd("7*7-25", SEVENS, 24, 1, NULL);
    cd("25/3", NUMS, 8, 0, "not exact");
    cd("25/(7-7)", SEVENS, 1, 0, "division by zero");
    cd("3*7+", NUMS, 21, 0, "expected a number");
    cd("(3*7+25", NUMS, 46, 0, "missing ')'");
    cd("3 7", NUMS, 3, 0, "unexpected text");
    cd("-3+25", NUMS, 22, 0, "expected a number");
    cd("", NUMS, 3, 0, "empty");
    cd("3*7+25abc", NUMS, 46, 0, "unexpected text");
    cd("3 x 7 + 25", NUMS, 46, 0, "unexpected text");
    cd("((((((((((((((((((((((((((((((((((3))))))))))))))))))))))))))))))))))", NUMS, 3, 0, "nested too deeply");
    cd("0000000003 + 25", NUMS, 28, 0, "not among the given");
    cd("3 - 7 + 25", NUMS, 21, 1, NULL); // a negative intermediate value is allowed
    { // overflow is an error, not a wrapped value
        const int big[6] = {100000, 100000, 100000, 100000, 100000, 1};
        const char *e = "100000*100000*100000*100000*100000", *why = NULL;
        expect(!countdown_check(e, strlen(e), big, 6, 1, &why) && why && strstr(why, "overflow"), "countdown overflow is rejected");
    }
    // ---- Countdown generator: every problem is solved by its own answer, the numbers in range
    for (int d = 1; d <= 5; d++) {
        uint64_t rng = 88172645463325252ull + (uint64_t)d;
        int ok = 1;
        for (int i = 0; i < 300; i++) {
            TaskItem it;
            countdown_make(&it, d, &rng);
            const char *why = NULL;
            ok &= it.num_count == d + 1 && it.target >= 2 && it.target <= 999;
            ok &= countdown_check(it.answer, strlen(it.answer), it.nums, it.num_count, it.target, &why);
            ok &= task_reward(&it, it.answer, strlen(it.answer)) == 1.0f;
            TaskItem back; // the prompt alone gives back the numbers and target
            ok &= task_from_strings(&back, tasks_strdup_("countdown", 9), tasks_strdup_(it.prompt, strlen(it.prompt)),
                                    tasks_strdup_("", 0));
            ok &= back.num_count == it.num_count && back.target == it.target && memcmp(back.nums, it.nums, sizeof(it.nums)) == 0;
            if (!ok) {
                printf("     difficulty %d: '%s' for %s (%s)\n", d, it.answer, it.prompt, why ? why : "");
                i = 300;
            }
            free(it.task), free(it.prompt), free(it.answer), free(back.task), free(back.prompt), free(back.answer);
        }
        char name[64];
        snprintf(name, sizeof(name), "countdown_make difficulty %d: 300 problems solvable", d);
        expect(ok, name);
    }

    // ---- JSON lines and the exact-match reward
    {
        const char *keys[2] = {"prompt", "answer"};
        char *v[2];
        const char *line = "{\"x\": 3, \"prompt\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\", \"ok\": true, \"answer\": \" 12\\n\"}";
        expect(json_line_fields(line, strlen(line), keys, 2, v) && strcmp(v[0], "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"") == 0 &&
               strcmp(v[1], " 12\n") == 0, "JSON line: escapes, surrogate pair, other keys skipped");
        TaskItem it;
        task_from_strings(&it, tasks_strdup_("arithmetic", 10), v[0], tasks_strdup_("12", 2));
        expect(task_reward(&it, v[1], strlen(v[1])) == 1.0f, "exact match ignores surrounding whitespace");
        expect(task_reward(&it, "12.", 3) == 0.0f && task_reward(&it, "1 2", 3) == 0.0f && task_reward(&it, "", 0) == 0.0f,
               "exact match: near misses score 0");
        expect(task_reward(&it, "\xc2\xa0 12\xe3\x80\x80\n", 9) == 1.0f && task_reward(&it, "\xc2\xa0" "12\xc2", 5) == 0.0f,
               "exact match strips Unicode whitespace as Python's str.strip() (NBSP, ideographic space)");
        free(it.task), free(it.prompt), free(it.answer), free(v[1]);
        const char *bad[] = {"{\"prompt\": \"a\"}", "{\"prompt\": \"a\", \"answer\": 3}", "{\"prompt\": \"a\", \"answer\": \"b\"} x",
                             "{\"prompt\": \"a\\ud800\", \"answer\": \"b\"}", "{\"prompt\": \"a\", \"answer\": \"b\"",
                             "[\"prompt\"]", "{\"prompt\": \"a\", \"prompt\": \"c\", \"answer\": \"b\"}"};
        int rejected = 1;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) rejected &= !json_line_fields(bad[i], strlen(bad[i]), keys, 2, v);
        expect(rejected, "JSON line: missing key, non-string, trailing text, lone surrogate, unclosed, array, duplicate rejected");
    }
    printf("%d checks, %d failed\n", checks, fails);
    return fails ? 1 : 0;
}
