// `require("celeriac")` from CommonJS. The package is one ES module build: a
// second, CommonJS copy would give a CommonJS app other classes than the
// worker's (instanceof, the task registry). Where Node can require() an ES
// module (20.19+, 22.12+) a CommonJS project gets that very module; where it
// cannot, it is told how to import() it.
"use strict";

/** The ES module at `file` (relative to the package root), required when Node can. */
module.exports = function requireEsm(file, name) {
  if (process.features.require_module) return require(`../${file}`);
  throw new Error(
    `${name} is an ES module and this Node (${process.version}) does not require() ES modules (20.19 and later do by default): ` +
      `in CommonJS load it with \`const { ... } = await import("${name}")\`, ` +
      `or set "type": "module" in package.json and use \`import { ... } from "${name}"\`.`,
  );
};
