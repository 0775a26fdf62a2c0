"""The evalcompose-bench program: a real OpenAI-compatible client that runs one task.

nemo-evaluator renders it from framework.yml with --url set to its adapter
(http://localhost:3825), which caches responses under <output_dir>/cache, so a rerun over
the same output dir sends no request that already has a response. Requests are
deterministic (same question -> same JSON body -> same cache key).

Writes under <output_dir>/evalcompose_bench/:
  samples.jsonl   one line per question: id, question, expected, reply, predicted, correct
  results.json    task, metrics (read by output.py into nemo-evaluator's results.yml)
  progress.json   {"done", "total", "failed", "correct"} rewritten while running

Exit code: 0 when done (failed requests beyond --max-failed-fraction -> 1, so a rerun
resumes from the cache); SIGTERM ends it at once (the default action).
"""

import argparse
import concurrent.futures as cf
import json
import math
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TASKS = {"arithmetic": "chat", "arithmetic_completions": "completions"}
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def make_questions(n, seed):
    """n deterministic questions: [{"id", "a", "op", "b", "expected"}]."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        op = "+-*"[i % 3]
        if op == "*":
            a, b = rng.randint(2, 99), rng.randint(2, 99)
        else:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
        expected = a + b if op == "+" else a - b if op == "-" else a * b
        out.append({"id": f"q{i:04d}", "a": a, "op": op, "b": b, "expected": expected})
    return out


def build_payload(q, args):
    question = f"What is {q['a']} {q['op']} {q['b']}?"
    body = {"model": args.model_id, "temperature": args.temperature, "top_p": args.top_p,
            "max_tokens": args.max_new_tokens}
    if args.endpoint_type == "chat":
        body["messages"] = [{"role": "user", "content": question + " Reply with the final number only."}]
    else:
        body["prompt"] = f"Question: {question}\nAnswer:"
    return question, body


def reply_text(resp, endpoint_type):
    choice = (resp.get("choices") or [{}])[0]
    if endpoint_type == "chat":
        return (choice.get("message") or {}).get("content") or ""
    return choice.get("text") or ""


def extract_number(text, endpoint_type):
    if endpoint_type != "chat":  # a base model may go on with the next question
        text = re.split(r"\n\s*\n|\nQuestion:", text, maxsplit=1)[0]
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        value = float(found[-1].replace(",", ""))
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def post(url, body, headers, timeout, max_retries):
    """POST JSON with retries on connection errors, time-outs, 429 and 5xx. -> (dict|None, error)."""
    data = json.dumps(body).encode()
    error = None
    for attempt in range(max_retries + 1):
        if attempt:
            time.sleep(min(0.25 * 2 ** (attempt - 1), 8.0))
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read()), None
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code}: {e.read()[:200].decode(errors='replace')}"
            if e.code not in RETRY_STATUS:
                return None, error
            retry_after = e.headers.get("Retry-After") if e.headers else None
            if retry_after and retry_after.isdigit():
                time.sleep(min(int(retry_after), 30))
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
    return None, error


def _decoded(kind):
    """An argparse type: framework.yml passes every value URL-encoded (shell- and Jinja-safe)."""
    def convert(text):
        return kind(urllib.parse.unquote(text))
    convert.__name__ = kind.__name__
    return convert


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="evalcompose-bench", description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, type=_decoded(str), choices=sorted(TASKS))
    p.add_argument("--url", required=True, type=_decoded(str), help="full endpoint URL (nemo-evaluator's adapter)")
    p.add_argument("--model-id", required=True, type=_decoded(str))
    p.add_argument("--endpoint-type", default=None, type=_decoded(str), choices=["chat", "completions"])
    p.add_argument("--output-dir", required=True, type=_decoded(str))
    p.add_argument("--api-key-name", default=None, type=_decoded(str), help="name of the env var holding the API key")
    p.add_argument("--limit-samples", type=_decoded(float), default=None, help=">=1: count, <1: fraction")
    p.add_argument("--parallelism", type=_decoded(int), default=4)
    p.add_argument("--request-timeout", type=_decoded(float), default=60)
    p.add_argument("--max-retries", type=_decoded(int), default=5)
    p.add_argument("--temperature", type=_decoded(float), default=0.0)
    p.add_argument("--top-p", type=_decoded(float), default=1.0)
    p.add_argument("--max-new-tokens", type=_decoded(int), default=64)
    p.add_argument("--num-questions", type=_decoded(int), default=100)
    p.add_argument("--seed", type=_decoded(int), default=1234)
    p.add_argument("--max-failed-fraction", type=_decoded(float), default=0.0)
    args = p.parse_args(argv)
    args.endpoint_type = args.endpoint_type or TASKS[args.task]
    return args


def main(argv=None):
    args = parse_args(argv)
    out_dir = os.path.join(args.output_dir, "evalcompose_bench")
    os.makedirs(out_dir, exist_ok=True)
    questions = make_questions(args.num_questions, args.seed)
    if args.limit_samples is not None:
        lim = args.limit_samples
        n = math.ceil(lim * len(questions)) if 0 < lim < 1 else int(lim)
        questions = questions[: max(0, n)]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if args.api_key_name:
        key = os.environ.get(args.api_key_name)
        if key is None:
            print(f"evalcompose-bench: env var {args.api_key_name} (api_key_name) is not set", file=sys.stderr)
            return 2
        headers["Authorization"] = f"Bearer {key}"

    total, lock = len(questions), threading.Lock()
    state = {"done": 0, "failed": 0, "correct": 0, "last_write": 0.0}

    def write_progress(force=False):
        now = time.time()
        if not force and now - state["last_write"] < 0.5:
            return
        state["last_write"] = now
        tmp = os.path.join(out_dir, f".progress.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump({"task": args.task, "total": total, "done": state["done"], "failed": state["failed"],
                       "correct": state["correct"], "updated": round(now, 3)}, f)
        os.replace(tmp, os.path.join(out_dir, "progress.json"))

    def run_one(q):
        question, body = build_payload(q, args)
        t0 = time.time()
        resp, error = post(args.url, body, headers, args.request_timeout, args.max_retries)
        text = reply_text(resp, args.endpoint_type) if resp else None
        predicted = extract_number(text, args.endpoint_type) if text is not None else None
        rec = {"id": q["id"], "question": question, "expected": q["expected"], "reply": text,
               "predicted": predicted, "correct": predicted == q["expected"], "error": error,
               "latency_ms": round((time.time() - t0) * 1000, 1)}
        with lock:
            state["done"] += 1
            state["failed"] += error is not None
            state["correct"] += rec["correct"]
            write_progress(force=state["done"] == total)
        return rec

    print(f"evalcompose-bench: task={args.task} endpoint={args.endpoint_type} samples={total} "
          f"parallelism={args.parallelism} url={args.url}", flush=True)
    write_progress(force=True)
    t_start = time.time()
    with cf.ThreadPoolExecutor(max_workers=max(1, args.parallelism)) as pool:
        records = list(pool.map(run_one, questions))
    elapsed = time.time() - t_start

    with open(os.path.join(out_dir, "samples.jsonl"), "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    values = [1.0 if r["correct"] else 0.0 for r in records]
    count, s = len(values), sum(values)
    mean = s / count if count else 0.0
    variance = (sum(v * v for v in values) / count - mean * mean) if count else 0.0
    stddev = math.sqrt(max(variance, 0.0))
    stats = {"count": count, "sum": s, "sum_squared": sum(v * v for v in values),
             "min": min(values, default=0.0), "max": max(values, default=0.0), "mean": mean,
             "variance": variance, "stddev": stddev,
             "stderr": stddev / math.sqrt(count - 1) if count > 1 else 0.0}
    failed = state["failed"]
    result = {"task": args.task, "endpoint_type": args.endpoint_type, "samples": count,
              "failed_requests": failed, "elapsed_seconds": round(elapsed, 3),
              "metrics": {"exact_match": {"scores": {"accuracy": {"value": mean, "stats": stats}}}}}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"evalcompose-bench: accuracy={mean:.4f} ({int(s)}/{count}) failed_requests={failed} "
          f"in {elapsed:.2f}s", flush=True)
    if count and failed / count > args.max_failed_fraction:
        example = next(r["error"] for r in records if r["error"])
        print(f"evalcompose-bench: {failed} of {count} requests failed after {args.max_retries} retries "
              f"(e.g. {example}); failing the task (rerun resumes from the cache)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
