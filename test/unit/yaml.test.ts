// The yaml serializer against PyYAML's safe_dump / safe_load, and its safety.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { decodeBody, serializerByName } from "../../src/protocol/serializers.js";
import { DecodeError } from "../../src/errors.js";

const PY = "/usr/bin/python3";
const yaml = serializerByName("yaml");
const read = (text: string) => decodeBody(Buffer.from(text), "application/x-yaml", ["yaml"]);

describe("yaml serializer (kombu's, PyYAML's YAML 1.1)", () => {
  const value = [[1, "yes", "n", "null", "0x1F", "1:20", 1.5, -3, true, null], { "ü-key": { y: "Y", list: [] } }, { chain: null }];

  it("PyYAML's safe_load reads what we write, value for value", () => {
    const out = execFileSync(PY, ["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"], { input: yaml.encode(value) });
    assert.deepEqual(JSON.parse(out.toString()), value);
  });

  it("we read what PyYAML's safe_dump writes, value for value", () => {
    const out = execFileSync(PY, ["-c", "import sys, json, yaml; sys.stdout.write(yaml.safe_dump(json.loads(sys.stdin.read())))"], {
      input: JSON.stringify(value),
    });
    assert.deepEqual(yaml.decode(out), value);
  });

  it("reads booleans and bare keys as PyYAML does: yes/on are true, y/n are strings", () => {
    assert.deepEqual(read("n: 1\ny: 2\na: [yes, On, no, OFF, y, N]"), { n: 1, y: 2, a: [true, true, false, false, "y", "N"] });
  });

  it("is a safe load: a Python tag is refused, never constructed", () => {
    assert.throws(
      () => read("!!python/object/apply:os.system ['touch /tmp/celeriac-pwned']"),
      (err: Error) => {
        assert.ok(err instanceof DecodeError);
        assert.match(err.message, /cannot decode application\/x-yaml body: Unresolved tag: tag:yaml\.org,2002:python\/object\/apply:os\.system/);
        return true;
      },
    );
  });

  it("refuses an alias bomb (billion laughs) and malformed YAML with a DecodeError", () => {
    const levels = "abcdefghi";
    let doc = "a: &a [x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < levels.length; i++)
      doc += `${levels[i]}: &${levels[i]} [${Array(9)
        .fill(`*${levels[i - 1]}`)
        .join(", ")}]\n`;
    assert.throws(() => read(doc), /resource exhaustion/);
    assert.throws(() => read("[1, 2"), DecodeError);
  });
});
