// Runs conformance cases through aws-local-stepfunctions (the reference
// interpreter) and writes one JSON object of results.
//
//   node run.mjs [--virtual-clock] <cases-dir> <results.json> [case-name …]
//
// For each case directory (definition.asl.json, input.json, optional
// tasks.json) the result is {"status": "SUCCEEDED", "output": …} or
// {"status": "FAILED" | "TIMED_OUT", "error": …, "cause": …}, or
// {"status": "INVALID", "cause": …} when the reference rejects the definition.
//
// Task states are answered by the case's fake Lambda (tasks.json), exactly as
// the Go side does (see fakeLambda in conformance_test.go):
//
//   { "<Resource>": <response> | [<response>, …] }
//   <response> := {"output": <json>} | {"echo": true} | {"error": "Name", "cause": "text"}
//               | … any of these with "delaySeconds": n
//
// A list answers successive invocations of that resource in order; its last
// element repeats.
//
// By default (the semantic corpus, testdata/cases) the cases run concurrently
// in real time: Wait states with a fixed Seconds/Timestamp are overridden to
// 0 ms, SecondsPath/TimestampPath waits run for real (cases keep them short)
// so that their paths are still evaluated, and Retry pauses are overridden to
// 0 ms.
//
// With --virtual-clock (the retry schedules, testdata/retry) nothing is
// overridden: the cases run one after another on a virtual clock that jumps
// to the next pending timer whenever the execution has nothing else to do,
// so a retry interval of hours costs nothing and is measured exactly. Each
// result then also has "invocations": the virtual time, in milliseconds since
// the execution started, of every call to the fake Lambda.

import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine, ExecutionError, ExecutionTimeoutError } from 'aws-local-stepfunctions';

const args = process.argv.slice(2);
const virtual = args[0] === '--virtual-clock';
if (virtual) args.shift();
const [casesDir, outFile, ...only] = args;
if (!casesDir || !outFile) {
  console.error('usage: node run.mjs [--virtual-clock] <cases-dir> <results.json> [case-name …]');
  process.exit(2);
}

const readJSON = (file) => JSON.parse(readFileSync(file, 'utf8'));

// The execution identity both sides use; see executionInfo in conformance_test.go.
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const SM_NAME = 'conformance';

class TaskError extends Error {
  constructor(name, cause) {
    super(cause ?? '');
    this.name = name;
  }
}

// walkStates calls fn(name, state) for every state, including those inside
// Parallel branches and Map iterators.
function walkStates(machine, fn) {
  for (const [name, state] of Object.entries(machine.States ?? {})) {
    fn(name, state);
    for (const branch of state.Branches ?? []) walkStates(branch, fn);
    const proc = state.ItemProcessor ?? state.Iterator;
    if (proc) walkStates(proc, fn);
  }
}

// installVirtualClock replaces setTimeout, clearTimeout and Date.now (the only
// time sources aws-local-stepfunctions uses while running) with a clock that
// stands still until run() finds the execution idle, then jumps to the
// earliest pending timer and fires it.
function installVirtualClock() {
  const realSetImmediate = globalThis.setImmediate;
  const timers = new Set();
  let now = 0;
  let seq = 0;
  globalThis.setTimeout = (fn, ms, ...rest) => {
    const timer = {
      due: now + Math.max(0, Number(ms) || 0),
      seq: seq++,
      fire: () => fn(...rest),
      ref: () => timer,
      unref: () => timer,
      hasRef: () => true,
    };
    timers.add(timer);
    return timer;
  };
  globalThis.clearTimeout = (timer) => timers.delete(timer);
  Date.now = () => now;
  return {
    now: () => now,
    // run waits for promise p, advancing the clock whenever nothing but
    // timers is left to run (microtasks always drain before setImmediate).
    async run(p) {
      let settled = false;
      p.then(
        () => (settled = true),
        () => (settled = true),
      );
      for (;;) {
        await new Promise((resolve) => realSetImmediate(resolve));
        if (settled) return p;
        let next;
        for (const t of timers) {
          if (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq)) next = t;
        }
        if (!next) throw new Error('the execution is waiting, but no timer is pending');
        timers.delete(next);
        now = next.due;
        next.fire();
      }
    },
  };
}

const clock = virtual ? installVirtualClock() : null;

function fakeLambda(tasks, invocations) {
  const calls = new Map();
  return async (resource, input) => {
    invocations.push(Date.now());
    const spec = tasks[resource];
    if (spec === undefined) {
      throw new TaskError('States.TaskFailed', `conformance: no fake response for resource ${resource}`);
    }
    let response = spec;
    if (Array.isArray(spec)) {
      const n = calls.get(resource) ?? 0;
      calls.set(resource, n + 1);
      response = spec[Math.min(n, spec.length - 1)];
    }
    if (response.delaySeconds) {
      // unref: a task that already lost the race against its TimeoutSeconds must
      // not keep node running (the state's own timeout timer keeps it alive while
      // the task is still awaited).
      await new Promise((resolve) => setTimeout(resolve, response.delaySeconds * 1000).unref());
    }
    if (response.error !== undefined) throw new TaskError(response.error, response.cause);
    if (response.echo) return input;
    return response.output ?? null;
  };
}

async function runCase(dir, name) {
  const definition = readJSON(join(dir, 'definition.asl.json'));
  const input = readJSON(join(dir, 'input.json'));
  const tasks = existsSync(join(dir, 'tasks.json')) ? readJSON(join(dir, 'tasks.json')) : {};

  const invocations = [];
  const invoke = fakeLambda(tasks, invocations);
  const taskResourceLocalHandlers = {};
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  const seen = new Set();
  walkStates(definition, (stateName, state) => {
    if (seen.has(stateName)) {
      // Overrides are keyed by state name, so names must be unique in a case.
      throw new Error(`case ${name}: state name ${stateName} is used twice`);
    }
    seen.add(stateName);
    if (state.Type === 'Task') {
      taskResourceLocalHandlers[stateName] = (taskInput) => invoke(state.Resource, taskInput);
    }
    if (virtual) return;
    if (state.Type === 'Wait' && (state.Seconds !== undefined || state.Timestamp !== undefined)) {
      waitTimeOverrides[stateName] = 0;
    }
    if (state.Retry) retryIntervalOverrides[stateName] = 0;
  });

  let machine;
  try {
    machine = new StateMachine(definition);
  } catch (err) {
    return { status: 'INVALID', cause: String(err?.message ?? err) };
  }
  const context = {
    Execution: {
      Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:${SM_NAME}:${name}`,
      Name: name,
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/conformance`,
    },
    StateMachine: {
      Id: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${SM_NAME}`,
      Name: SM_NAME,
    },
  };
  const started = Date.now();
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context,
  });
  const result = await settle(clock ? clock.run(execution.result) : execution.result);
  if (virtual) result.invocations = invocations.map((t) => t - started);
  return result;
}

async function settle(promise) {
  try {
    const output = await promise;
    return { status: 'SUCCEEDED', output: output === undefined ? null : output };
  } catch (err) {
    if (err instanceof ExecutionTimeoutError) {
      return { status: 'TIMED_OUT', error: 'States.Timeout', cause: err.message };
    }
    if (err instanceof ExecutionError) {
      const cause = err.cause ?? err;
      return { status: 'FAILED', error: cause.name, cause: cause.message };
    }
    return { status: 'FAILED', error: err?.name ?? 'Error', cause: String(err?.message ?? err) };
  }
}

const names = readdirSync(casesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && (only.length === 0 || only.includes(d.name)))
  .map((d) => d.name)
  .sort();

async function runNamed(name) {
  try {
    return [name, await runCase(join(casesDir, name), name)];
  } catch (err) {
    return [name, { status: 'HARNESS_ERROR', cause: String(err?.stack ?? err) }];
  }
}

let entries;
if (virtual) {
  // One at a time: the virtual clock is shared by the whole process.
  entries = [];
  for (const name of names) entries.push(await runNamed(name));
} else {
  // Concurrently: most of the time is spent in real-time waits.
  entries = await Promise.all(names.map(runNamed));
}
writeFileSync(outFile, JSON.stringify(Object.fromEntries(entries), null, 2) + '\n');
console.log(`aws-local-stepfunctions: ran ${entries.length} cases -> ${outFile}`);
