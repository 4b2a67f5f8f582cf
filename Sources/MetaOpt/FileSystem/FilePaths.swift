import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths as the kernel reads them: file URLs that work in any working directory, and whether two
/// paths name one file (for refusing an output that would replace one of the command's own
/// inputs: `export --output` its optimizer file, `plot --out` a metrics.jsonl).
package enum FilePaths {
    /// The working directory. Foundation's own lookup holds 1,024 bytes, and a relative URL made
    /// in a deeper directory has no base, so every write through it failed ("The specified URL
    /// type isn't supported"); the kernel allows 4,096.
    /// nil where the kernel cannot name it either (deeper than its 4,096 bytes, or removed).
    package static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A command-line path as a file URL: relative paths are joined to `currentDirectory()` here
    /// (see there for why not by Foundation). Where the working directory has no name, the path
    /// stays relative (its writes then fail, naming it, rather than land anywhere else).
    package static func url(_ path: String) -> URL {
        guard !path.hasPrefix("/"), let directory = currentDirectory() else { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: path.isEmpty ? directory : (directory.hasSuffix("/") ? directory : directory + "/") + path)
    }

    /// `url`'s path resolved as the kernel resolves it, component by component from the root:
    /// every symbolic link replaced by its target before the next component is read (so
    /// `link/..` is the link target's parent, not the folder holding the link), "." and ".."
    /// removed, and names that do not exist yet kept as they are. A dangling link is followed
    /// to where its file will be (a link to a run directory not made yet), as a write would,
    /// up to the kernel's 40 links. No length limit but the kernel's.
    package static func canonical(_ url: URL) -> String {
        let path = url.path
        let absolute = path.hasPrefix("/") ? path : currentDirectory().map { $0 + "/" + path }
        // A relative path in a directory with no name: compared as written, "." and ".." removed.
        guard let absolute else { return (path as NSString).standardizingPath }
        return resolve(absolute) { _ in }
    }

    /// Whether resolving `path` passes through a link to an open file descriptor,
    /// /proc/PID/fd/N (/dev/stdout, /dev/fd/2, /proc/self/fd/3): what such a link leads to is
    /// whatever the descriptor was opened on (a redirected stream's file), not a file of the
    /// user's naming.
    package static func leadsThroughADescriptor(_ path: String) -> Bool {
        guard let absolute = path.hasPrefix("/") ? path : currentDirectory().map({ $0 + "/" + path }) else { return false }
        var found = false
        _ = resolve(absolute) { link in
            let c = components(of: link)
            // proc, PID, fd, N or proc, PID, task, TID, fd, N
            if c.first == "proc" && (c.count == 4 || (c.count == 6 && c[2] == "task")) && c[c.count - 2] == "fd" { found = true }
        }
        return found
    }

    /// `absolute` resolved as `canonical` says; `link` is called with each link followed.
    private static func resolve(_ absolute: String, link: (String) -> Void) -> String {
        var pending = Array(components(of: absolute).reversed())
        var resolved: [String] = []
        var linksFollowed = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                // `resolved` holds no links, so its parent is the kernel's "..".
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let here = "/" + (resolved + [component]).joined(separator: "/")
            if linksFollowed < 40, let target = linkTarget(here) {
                linksFollowed += 1
                link(here)
                if target.hasPrefix("/") { resolved = [] }
                pending.append(contentsOf: components(of: target).reversed())
                continue
            }
            resolved.append(component)
        }
        return "/" + resolved.joined(separator: "/")
    }

    /// The same canonical path, byte for byte (Swift's `==` on strings equates "é" written as
    /// one code point and as two, which Linux keeps as two names), or (both existing) the same
    /// device and inode: hard links too.
    package static func same(_ a: URL, _ b: URL) -> Bool {
        if sameBytes(canonical(a), canonical(b)) { return true }
        var sa = stat(), sb = stat()
        return stat(a.path, &sa) == 0 && stat(b.path, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Whether two paths are the same bytes (see `same`).
    package static func sameBytes(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    private static func components(of path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// What the symbolic link `path` holds (readlink); nil when it is no link.
    package static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
