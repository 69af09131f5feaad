package sandbox

// adminPrefix starts the sandbox's own control paths.
const adminPrefix = "/_sandbox/"
