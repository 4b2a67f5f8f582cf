import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether two paths name one file: for refusing an output that would replace one of the
/// command's own inputs (`export --output` its optimizer file, `plot --out` a metrics.jsonl).
package enum FilePaths {
    /// `url`'s path with "." and ".." removed and symbolic links resolved, also where its last
    /// components do not exist yet: those are appended to the resolved nearest existing ancestor
    /// (`resolvingSymlinksInPath` leaves a path that does not exist as it is, so a link to the run
    /// directory hid a new file inside it).
    package static func canonical(_ url: URL) -> String { canonical(url, linksFollowed: 0) }

    private static func canonical(_ url: URL, linksFollowed: Int) -> String {
        var existing = url.standardizedFileURL
        var missing: [String] = []
        while !FileManager.default.fileExists(atPath: existing.path) && existing.path != "/" {
            // A dangling link names where its file will be (a link to a run directory not made
            // yet): followed, as the write will follow it, up to the kernel's 40 links.
            if linksFollowed < 40, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: existing.path) {
                var followed = target.hasPrefix("/") ? URL(fileURLWithPath: target)
                    : existing.deletingLastPathComponent().appendingPathComponent(target)
                for component in missing { followed.appendPathComponent(component) }
                return canonical(followed, linksFollowed: linksFollowed + 1)
            }
            missing.insert(existing.lastPathComponent, at: 0)
            existing = existing.deletingLastPathComponent()
        }
        var result = existing.resolvingSymlinksInPath()
        for component in missing { result.appendPathComponent(component) }
        return result.standardizedFileURL.path
    }

    /// The same canonical path, or (both existing) the same device and inode: hard links too.
    package static func same(_ a: URL, _ b: URL) -> Bool {
        if canonical(a) == canonical(b) { return true }
        var sa = stat(), sb = stat()
        return stat(a.path, &sa) == 0 && stat(b.path, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
