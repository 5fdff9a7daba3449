// Prints one plain closing line, "N passed, N failed, N skipped", that CI reads.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numRuntimeErrorTestSuites: broken } = results;
    const seconds = ((Date.now() - results.startTime) / 1000).toFixed(1);
    if (broken) console.log(`${broken} test suites failed to run`);
    console.log(`tests: ${passed} passed, ${failed + broken} failed, ${skipped} skipped`);
    console.log(`(whole suite: ${seconds} s)`);
  }
}
module.exports = SummaryReporter;
