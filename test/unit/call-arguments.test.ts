// Keyword arguments mapped to a task's parameters with Python's rules
// (src/worker/call-arguments.ts), through the real executor.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { callArguments } from "../../src/worker/call-arguments.js";

const app = new Celeriac({ name: "kw", broker: "memory://kw", backend: "memory://kw" });
const add = app.task({ name: "kw.add", params: ["x", "y"] }, function add(x: number, y: number) {
  return x + y;
});
const greet = app.task({ name: "kw.greet", params: ["name", "greeting"] }, function greet(name: string, greeting: string = "Hello") {
  return `${greeting}, ${name}!`;
});
const plain = app.task("kw.plain", function plain(x: number, y: number) {
  return x + y;
});
const anyKw = app.task({ name: "kw.any", kwargsAsObject: true }, (a: number, kw?: Record<string, unknown>) => [a, kw]);

describe("keyword arguments to task parameters", () => {
  it("maps keywords to their parameters, after the positional ones", async () => {
    assert.deepEqual(callArguments(add, [], { x: 1, y: 2 }), [1, 2]);
    assert.deepEqual(callArguments(add, [1], { y: 2 }), [1, 2]);
    assert.deepEqual(callArguments(greet, ["Ada"], {}), ["Ada"]);
    assert.deepEqual(callArguments(greet, [], { name: "Ada" }), ["Ada"], "a parameter with a default may be left out");
    assert.equal(await greet.call(...(callArguments(greet, [], { greeting: "Hi", name: "Ada" }) as [string, string])), "Hi, Ada!");
  });

  it("fails as Python does for a missing, unexpected or doubled argument", () => {
    assert.throws(() => callArguments(add, [], { x: 1 }), { name: "TypeError", message: "add() missing 1 required positional argument: 'y'" });
    assert.throws(() => callArguments(add, [], { z: 1 }), { name: "TypeError", message: "add() got an unexpected keyword argument 'z'" });
    assert.throws(() => callArguments(add, [1], { x: 2, y: 3 }), { name: "TypeError", message: "add() got multiple values for argument 'x'" });
    assert.throws(() => callArguments(add, [5], {}), { name: "TypeError", message: "add() missing 1 required positional argument: 'y'" });
    assert.throws(() => callArguments(add, [1, 2, 3], {}), { name: "TypeError", message: "add() takes 2 positional arguments but 3 were given" });
    assert.throws(() => callArguments(greet, ["a", "b", "c"], {}), {
      name: "TypeError",
      message: "greet() takes from 1 to 2 positional arguments but 3 were given",
    });
  });

  it("a task that declares no params fails a keyword call instead of running with a wrong value", () => {
    assert.throws(() => callArguments(plain, [], { x: 1, y: 2 }), /plain\(\) got unexpected keyword arguments 'x' and 'y'/);
  });

  it("kwargsAsObject passes them as one final object", () => {
    assert.deepEqual(callArguments(anyKw, [1], { b: 2 }), [1, { b: 2 }]);
  });
});
