// The yaml serializer, as kombu's register_yaml: 'application/x-yaml', utf-8,
// PyYAML's safe_dump / safe_load. Read and written with the `yaml` package
// (ISC, no dependencies), loaded on the first YAML message, in YAML 1.1 as
// PyYAML speaks it (yes/no are booleans, timestamps are dates). Safe as
// safe_load is: a tag outside the schema (!!python/object…) is refused, never
// constructed, and aliases are capped (no billion laughs).
import { EncodeError } from "../../errors.js";
import { loadCodecPackage } from "./load-package.js";

interface YamlDocument {
  errors: { code: string; message: string }[];
  warnings: { code: string; message: string }[];
  toJS(opts: { maxAliasCount: number }): unknown;
}

interface Yaml {
  parseDocument(text: string, opts: Record<string, unknown>): YamlDocument;
  stringify(value: unknown, opts: Record<string, unknown>): string;
}

let yaml: Yaml | null = null;
const load = (): Yaml => (yaml ??= loadCodecPackage<Yaml>("yaml", "YAML"));

interface Tag {
  tag: string;
  test?: RegExp;
  identify?: (v: unknown) => boolean;
}

/**
 * YAML 1.1 as PyYAML's resolver reads it: its booleans leave out the spec's
 * y/Y/n/N, so `n: 1` (safe_dump writes that key bare) is the string "n".
 */
const pyYamlTags = (tags: Tag[]): Tag[] =>
  tags.map((t) =>
    t.tag === "tag:yaml.org,2002:bool" && t.test
      ? { ...t, test: t.identify?.(true) ? /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/ : /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/ }
      : t,
  );

/** Aliases one document may expand: PyYAML has no cap, but a message never needs many. */
const MAX_ALIASES = 100;

/** Throws a plain Error saying what is wrong; decodeBody names the content type. */
export function yamlDecode(body: Buffer): unknown {
  const doc = load().parseDocument(body.toString("utf8"), { version: "1.1", customTags: pyYamlTags, uniqueKeys: false, prettyErrors: false });
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === "TAG_RESOLVE_FAILED");
  if (problem) throw new Error(problem.message.split("\n")[0]!);
  return doc.toJS({ maxAliasCount: MAX_ALIASES });
}

export function yamlEncode(value: unknown): Buffer {
  try {
    return Buffer.from(load().stringify(value, { version: "1.1", customTags: pyYamlTags }), "utf8");
  } catch (err) {
    throw new EncodeError(`cannot encode as YAML: ${(err as Error).message}`, { cause: err });
  }
}
