// Fails a CI step whose Jest run skipped anything or ran nothing: a skipped integration suite is a
// failure, never a pass. Usage: node scripts/check-jest-report.mjs <report.json> <label>
import { readFileSync } from 'node:fs';

const [file, label = file] = process.argv.slice(2);
const r = JSON.parse(readFileSync(file, 'utf8'));
const skippedSuites = r.testResults.filter((t) => t.status === 'pending' || t.assertionResults.every((a) => a.status !== 'passed' && a.status !== 'failed'));
const problems = [];
if (r.numTotalTests === 0) problems.push('no test ran');
if (r.numPendingTests > 0 || r.numTodoTests > 0) problems.push(`${r.numPendingTests} skipped and ${r.numTodoTests} todo test(s)`);
if (r.numPendingTestSuites > 0 || skippedSuites.length > 0) problems.push(`${Math.max(r.numPendingTestSuites, skippedSuites.length)} skipped suite(s)`);
if (r.numFailedTests > 0 || r.numFailedTestSuites > 0 || r.numRuntimeErrorTestSuites > 0) problems.push(`${r.numFailedTests} failed test(s), ${r.numFailedTestSuites} failed suite(s)`);
console.log(`${label}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
if (problems.length) {
  console.error(`${label}: FAILED — ${problems.join('; ')}`);
  process.exit(1);
}
