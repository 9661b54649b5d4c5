// Type tests, checked by `tsc -p tsconfig.json` (part of npm test), never run:
// each @ts-expect-error line must be a compile error, or tsc fails with
// "Unused '@ts-expect-error' directive".
import { Celeriac, chain, group, type CeleriacOptions } from "../../src/index.js";

const app = new Celeriac({ name: "types", broker: "memory://", backend: "memory://" });
const add = app.task("types.add", (x: number, y: number) => x + y);
const greet = app.task("types.greet", (name: string, greeting = "Hello") => `${greeting}, ${name}`);

// Call options: a typo is an error, not a silently ignored option.
add.applyAsync([2, 3], { countdown: 10 });
// @ts-expect-error misspelt countdown
add.applyAsync([2, 3], { coutndown: 10 });
// @ts-expect-error wrong argument type
add.delay("2", 3);

// Settings: a typo is an error.
new Celeriac({ broker: "memory://", taskSerializer: "json" });
// @ts-expect-error misspelt broker
new Celeriac({ brokr: "memory://" });
// @ts-expect-error misspelt setting
new Celeriac({ taskSerialiser: "json" });
// @ts-expect-error a setting of the wrong type
new Celeriac({ workerConcurrency: "4" });
const options: CeleriacOptions = { resultExpires: null };
void options;

// Beat entries have a shape.
new Celeriac({ beatSchedule: { tick: { task: "types.add", schedule: 30, args: [1, 2] } } });
// @ts-expect-error an entry needs a schedule
new Celeriac({ beatSchedule: { tick: { task: "types.add" } } });
// @ts-expect-error args is a list
new Celeriac({ beatSchedule: { tick: { task: "types.add", schedule: 30, args: 1 } } });

// Signatures are typed from the task's parameters; partial ones (a chain
// passes the parent's result as the first argument) still compile.
chain(add.s(2, 2), add.s(4), add.s(8));
group(add.s(1, 1), add.s(2, 2));
greet.s("Ada");
greet.s();
add.si(1, 2);
// @ts-expect-error a string where a number goes
chain(add.s(2, 2), add.s("4"));
// @ts-expect-error too many arguments
add.s(1, 2, 3);
// @ts-expect-error an immutable signature gets all its arguments
add.si(1);
