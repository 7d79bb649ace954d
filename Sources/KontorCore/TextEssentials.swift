/// The few string operations of Foundation that FoundationEssentials (what the agent links, without
/// ICU) lacks: trimming and zero-padded numbers, with the same results.
extension StringProtocol {
    /// Without leading and trailing whitespace, line breaks included (Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`).
    public func trimmingWhitespace() -> String { trimming { $0.isWhitespace } }

    /// Without leading and trailing spaces and tabs, line breaks kept (Foundation's
    /// `trimmingCharacters(in: .whitespaces)`).
    public func trimmingSpaces() -> String { trimming { $0.isWhitespace && !$0.isNewline } }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension BinaryInteger {
    /// The number in `radix` with at least `width` digits, e.g. `7.padded(4)` is `0007`
    /// (`String(format: "%04d")`, `%02x`, `%04X`).
    public func padded(_ width: Int, radix: Int = 10, uppercase: Bool = false) -> String {
        let digits = String(magnitude, radix: radix, uppercase: uppercase)
        let sign = self < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count - sign.count)) + digits
    }
}
