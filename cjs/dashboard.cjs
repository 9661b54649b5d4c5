// What `require("celeriac/dashboard")` loads: the ES module itself (see require-esm.cjs).
"use strict";
module.exports = require("./require-esm.cjs")("dist/dashboard/index.js", "celeriac/dashboard");
