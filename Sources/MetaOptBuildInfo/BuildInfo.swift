/// What the build knows about itself: the VERSION file and the git commit, stamped at build time
/// by the BuildStamp plugin (Plugins/BuildStamp), which adds a generated file to this module.
/// Not API: MetaOpt's `Provenance` is the public face. A module of its own so that a new stamp
/// recompiles only this file, not the library.
package enum BuildInfo {
    /// The VERSION file's text, e.g. "0.1.0".
    package static var version: String { stampedVersion() }
    /// The full git commit the package was built from, with "+dirty" when its work tree differed
    /// from that commit; nil when it was not built from a git work tree (an archive, no git).
    package static var commit: String? { stampedCommit() }
}
