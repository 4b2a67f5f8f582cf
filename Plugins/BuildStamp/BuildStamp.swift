import Foundation
import PackagePlugin

/// Stamps the build with the package's version (the VERSION file) and git commit: runs
/// build-stamp.sh, which writes a Swift file defining `stampedVersion()` and `stampedCommit()`
/// into the target it is applied to (MetaOptBuildInfo).
///
/// A build command, not a prebuild command: SwiftPM does not rerun prebuild commands on every
/// build (swiftlang/swift-package-manager#5476), so a stamp could outlive its commit. The command
/// reruns when one of its inputs changes: every source file of the package (edits make the tree
/// dirty), VERSION, Package.swift, and git's HEAD, HEAD reflog and index (commits, checkouts,
/// resets). The script rewrites its output only when the text changes, so a rerun that finds the
/// same stamp rebuilds nothing; a new stamp recompiles the small MetaOptBuildInfo module and
/// relinks, but modules that import it do not recompile (the values sit behind functions that are
/// not inlinable across modules).
@main
struct BuildStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let script = package.appending(path: "Plugins/BuildStamp/build-stamp.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildStamp.swift")
        var inputs = context.package.targets.compactMap { $0 as? SourceModuleTarget }.flatMap { $0.sourceFiles.map(\.url) }
        inputs += [script, package.appending(path: "VERSION"), package.appending(path: "Package.swift")]
        if let git = Self.gitDirectory(of: package) {
            inputs += ["HEAD", "logs/HEAD", "index"].map { git.appending(path: $0) }
        }
        return [.buildCommand(displayName: "Stamping the build with VERSION and the git commit",
                              executable: URL(fileURLWithPath: "/bin/sh"),
                              arguments: [script.path, package.path, output.path],
                              inputFiles: inputs, outputFiles: [output])]
    }

    /// The package's own git directory: `.git`, or where a `.git` file points (a worktree or a
    /// submodule); nil when there is none (the stamp then says the commit is unknown).
    static func gitDirectory(of package: URL) -> URL? {
        let dotGit = package.appending(path: ".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return dotGit }
        guard let text = try? String(contentsOf: dotGit, encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("gitdir:") else { return nil }
        let path = line.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespaces)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appending(path: path)
    }
}
