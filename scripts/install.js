#!/usr/bin/env node
// `npm install` step: use the prebuilt addon that matches this machine, else compile it
// (node-gyp-build). Never fails the install: without an addon the library still runs its
// `memory` exporter, and capabilities().native.error says why the addon is missing.
'use strict';
const { spawnSync } = require('node:child_process');

if (process.platform !== 'linux') process.exit(0); // the addon is Linux-only

const bin = require.resolve('node-gyp-build/bin.js');
let r = spawnSync(process.execPath, [bin], { stdio: 'inherit' });
if (r.status !== 0) {
  // Once more without the optional V8 fast path for views (native/v8/), in case only it failed
  // to compile against this Node's V8 headers: Node-API views need nothing else.
  console.warn('dmabuf: building again without the V8 fast path for views');
  const GYP_DEFINES = `${process.env.GYP_DEFINES ?? ''} dmabuf_v8_views=0`.trim();
  r = spawnSync(process.execPath, [bin], { stdio: 'inherit', env: { ...process.env, GYP_DEFINES } });
}
if (r.status !== 0) {
  console.warn(
    `dmabuf: no prebuilt addon matches ${process.platform}-${process.arch} and compiling one failed ` +
      `(${r.error ? r.error.message : `exit status ${r.status}`}); only the 'memory' exporter is available. ` +
      'Install a C++ compiler (g++, make, python3) and run "npm rebuild dmabuf" to build it.',
  );
}
process.exit(0);
