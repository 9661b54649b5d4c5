// What `require("celeriac")` loads: the ES module itself (see require-esm.cjs).
"use strict";
module.exports = require("./require-esm.cjs")("dist/index.js", "celeriac");
