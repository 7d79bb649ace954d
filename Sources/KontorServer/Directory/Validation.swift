import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

/// Input checks shared by the services.
enum Validation {
    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard text.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".")
        else { return false }
        return !text.contains(where: { $0.isWhitespace || $0 == "," || $0 == ";" || $0 == "<" || $0 == ">" || $0.asciiValue.map { $0 < 32 } ?? false })
    }

    /// A phone number as people write it: `+`, digits, spaces and `-/()`, at least three digits, at most 32
    /// characters (`+49 30 1234-567`, `(030) 123 45`).
    static func isPhone(_ text: String) -> Bool {
        (3...32).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isNumber || " +-/()".contains($0)) }
            && text.filter(\.isNumber).count >= 3 && !text.dropFirst().contains("+")
    }

    static func isName(_ text: String) -> Bool {
        (1...64).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
}

extension String {
    /// Nil for the empty string (an optional field sent empty means "not given").
    var nonEmpty: String? { isEmpty ? nil : self }
}
