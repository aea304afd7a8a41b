#!/usr/bin/env node
// flanneld v0.11.0 stand-in (stub: being built). See lab/flanneld/README.md.
process.stderr.write('v0.11.0\n');
