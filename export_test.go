package tune

// PressureLevelOf exposes the pressure thresholds to the real-process
// tests in package tune_test, so that they check a reported level against
// the same rule.
var PressureLevelOf = pressureLevel

// FilesIn lists the names in a directory, for the last words' tests.
var FilesIn = filesIn
