#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Human durations as people type them: `90s`, `30m`, `24h`, `7d`, `2w`, or combinations like `1d12h`.
public enum HumanDuration {
    /// Seconds in `text`, or nil when it is not a duration.
    public static func seconds(_ text: String) -> Int? {
        var total = 0
        var number = ""
        var sawUnit = false
        for ch in text.trimmingSpaces() {
            if ch.isASCII, ch.isNumber {
                number.append(ch)
                continue
            }
            guard let value = Int(number) else { return nil }
            let unit: Int
            switch ch {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            case "w": unit = 604_800
            default: return nil
            }
            let (product, o1) = value.multipliedReportingOverflow(by: unit)
            let (sum, o2) = total.addingReportingOverflow(product)
            guard !o1, !o2 else { return nil }
            total = sum
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }
}
