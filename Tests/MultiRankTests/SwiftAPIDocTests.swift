import Foundation
import XCTest

/// docs/swift-api.md shows only code that compiles: every ```swift block is a run of lines of a
/// Swift file of the Examples package, which launch/check-examples.sh runs (in CI built by
/// launch/check-consumer.sh).
final class SwiftAPIDocTests: XCTestCase {
    /// Lines without their indentation, empty lines dropped.
    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func testSwiftSnippetsAreTakenFromTheExamples() throws {
        let root = ExamplesTests.packageRoot
        let page = try String(contentsOf: root.appendingPathComponent("docs/swift-api.md"), encoding: .utf8)
        var blocks: [[String]] = [], current: [String]? = nil
        for line in page.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("```swift") {
                current = []
            } else if current != nil, line.hasPrefix("```") {
                blocks.append(Self.lines(current!.joined(separator: "\n")))
                current = nil
            } else if current != nil {
                current!.append(String(line))
            }
        }
        XCTAssertGreaterThanOrEqual(blocks.count, 8, "the page's Swift snippets were not found")

        let examples = root.appendingPathComponent("Examples")
        let enumerator = FileManager.default.enumerator(at: examples, includingPropertiesForKeys: nil)
        var sources: [String: [String]] = [:]
        while let url = enumerator?.nextObject() as? URL {
            if url.lastPathComponent.hasPrefix(".") {
                enumerator?.skipDescendants()  // .build, .swiftpm
                continue
            }
            if url.pathExtension == "swift" {
                sources[url.path] = Self.lines(try String(contentsOf: url, encoding: .utf8))
            }
        }
        XCTAssertGreaterThanOrEqual(sources.count, 4, "Examples/ has no sources")
        for block in blocks {
            let found = sources.values.contains { file in
                file.count >= block.count && (0...(file.count - block.count)).contains { Array(file[$0..<$0 + block.count]) == block }
            }
            XCTAssertTrue(found, "docs/swift-api.md shows code that no file of Examples/ holds:\n" + block.joined(separator: "\n"))
        }
    }
}
