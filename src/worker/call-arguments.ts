// The arguments a task function is called with, from the message's args and
// kwargs. Keyword arguments go to the task's declared parameters by name, with
// the TypeErrors Python raises for a call that does not fit (so a Python
// caller's add.delay(x=1, y=2) works, and a call that cannot be mapped fails
// rather than running with a wrong value), or as one trailing object for a
// task that asks for that (kwargsAsObject).
import type { TaskOptions } from "../task.js";

/** The parts of a task the mapping reads. */
export interface CallShape {
  name: string;
  /** The function: its name for the messages, its length (parameters before the first default) for what is required. */
  fn: { name: string; length: number };
  options: Pick<TaskOptions, "params" | "kwargsAsObject">;
}

function quoted(names: string[]): string {
  return names.map((n) => `'${n}'`).join(names.length === 2 ? " and " : ", ");
}

/**
 * The call's arguments. A task that declares its params is checked as Python
 * checks a call, positional arguments too (too many, too few); one without
 * takes its positional arguments as they come.
 */
export function callArguments(task: CallShape, args: unknown[], kwargs: Record<string, unknown>): unknown[] {
  const keys = Object.keys(kwargs);
  const { params, kwargsAsObject } = task.options;
  if (!keys.length && !params) return args;
  if (kwargsAsObject) return keys.length ? [...args, kwargs] : args;
  const fn = task.fn.name || task.name;
  if (!params) {
    throw new TypeError(
      `${fn}() got unexpected keyword argument${keys.length > 1 ? "s" : ""} ${quoted(keys)} (the task declares no params to map keyword arguments to; or set kwargsAsObject)`,
    );
  }
  // Parameters before the first default (Function.length) are required.
  const required = Math.min(task.fn.length, params.length);
  if (args.length > params.length) {
    const takes = required === params.length ? `${params.length}` : `from ${required} to ${params.length}`;
    throw new TypeError(
      `${fn}() takes ${takes} positional argument${params.length === 1 ? "" : "s"} but ${args.length} ${args.length === 1 ? "was" : "were"} given`,
    );
  }
  const unexpected = keys.filter((k) => !params.includes(k));
  if (unexpected.length) throw new TypeError(`${fn}() got an unexpected keyword argument ${quoted(unexpected)}`);
  const doubled = keys.filter((k) => params.indexOf(k) < args.length);
  if (doubled.length) throw new TypeError(`${fn}() got multiple values for argument ${quoted(doubled)}`);
  const out = [...args];
  const missing: string[] = [];
  for (let i = args.length; i < params.length; i++) {
    const name = params[i]!;
    if (name in kwargs) out[i] = kwargs[name];
    else if (i < required) missing.push(name);
  }
  if (missing.length) {
    throw new TypeError(`${fn}() missing ${missing.length} required positional argument${missing.length > 1 ? "s" : ""}: ${quoted(missing)}`);
  }
  return out;
}
