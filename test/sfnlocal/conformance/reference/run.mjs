// Runs every ASL conformance case through aws-local-stepfunctions (the
// reference interpreter) and writes one JSON object of results.
//
//   node run.mjs <cases-dir> <results.json> [case-name …]
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
// element repeats. Wait states with a fixed Seconds/Timestamp are overridden to
// 0 ms; SecondsPath/TimestampPath waits run for real (cases keep them short)
// so that their paths are still evaluated. Retry pauses are overridden to 0 ms.

import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine, ExecutionError, ExecutionTimeoutError } from 'aws-local-stepfunctions';

const [casesDir, outFile, ...only] = process.argv.slice(2);
if (!casesDir || !outFile) {
  console.error('usage: node run.mjs <cases-dir> <results.json> [case-name …]');
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

function fakeLambda(tasks) {
  const calls = new Map();
  return async (resource, input) => {
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

  const invoke = fakeLambda(tasks);
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
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context,
  });
  try {
    const output = await execution.result;
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

// Run the cases concurrently: most of the time is spent in real-time waits.
const entries = await Promise.all(
  names.map(async (name) => {
    try {
      return [name, await runCase(join(casesDir, name), name)];
    } catch (err) {
      return [name, { status: 'HARNESS_ERROR', cause: String(err?.stack ?? err) }];
    }
  }),
);
writeFileSync(outFile, JSON.stringify(Object.fromEntries(entries), null, 2) + '\n');
console.log(`aws-local-stepfunctions: ran ${entries.length} cases -> ${outFile}`);
