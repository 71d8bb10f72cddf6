// Lets `node --test tests/idp/` find the self-test: node's test runner only
// picks up files named like *.test.mjs when given a directory.
import './selftest.mjs';
