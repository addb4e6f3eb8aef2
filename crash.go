package tune

// initCrash wires the crash output as c says. (Stub: the crash-output
// issue fills it in.)
func initCrash(c config) error { return nil }
