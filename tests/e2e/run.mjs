// Runs one browser test against the real server binary:
//
//   node tests/e2e/run.mjs <spec> <tessera-binary> <screenshot-dir>
//
// `<spec>` names `<spec>.spec.mjs` in this directory, whose default export receives a
// TestContext (harness.mjs): it starts its own servers (fresh data directories, free ports) and
// browser pages. Exits 0 when the spec passes, 1 with the failed step, the pages' state, the
// browser console and the server log otherwise. tests/browser.rs runs each spec.

import { resolve } from 'node:path';
import { TestContext } from './harness.mjs';

const OVERALL_TIMEOUT_MS = 100_000;

const [spec, binary, shotDir] = process.argv.slice(2);
if (!spec || !binary || !shotDir) {
  console.error('usage: node tests/e2e/run.mjs <spec> <tessera-binary> <screenshot-dir>');
  process.exit(2);
}
const t = new TestContext({ binary: resolve(binary), shotDir: resolve(shotDir), name: spec });
const timer = setTimeout(async () => {
  await t.report(new Error(`the test took more than ${OVERALL_TIMEOUT_MS / 1000} s`));
  await t.close();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

try {
  const { default: test } = await import(`./${spec}.spec.mjs`);
  await t.launch();
  await test(t);
  t.checkNoErrors();
  clearTimeout(timer);
  await t.close();
  t.log('PASS');
  process.exit(0);
} catch (error) {
  clearTimeout(timer);
  await t.report(error);
  await t.close();
  process.exit(1);
}
