#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Characters that change what a terminal or a page shows without being seen themselves: control
/// characters (C0, DEL, C1; a terminal acts on `ESC [ … m` and friends) and invisible or
/// direction-changing ones (format characters such as ZWSP U+200B and RLO U+202E, line and paragraph
/// separators, other default-ignorable code points such as the Hangul fillers). Devices send strings the
/// server stores and people read (a status message, an executable's path a work user chose), so
/// everything that shows such a string makes these characters visible through ``escaped(_:keeping:)``.
public enum VisibleText {
    /// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Invisible or direction-changing: Unicode format characters (Cf: ZWSP, ZWJ, LRM/RLM, the bidi
    /// embeddings, overrides and isolates, BOM, soft hyphen, …), line and paragraph separators, and the
    /// other default-ignorable code points except variation selectors (which only pick an emoji's look).
    public static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator: return true
        default: return properties.isDefaultIgnorableCodePoint && !properties.isVariationSelector
        }
    }

    /// A control or invisible character: never shown raw.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        // Printable ASCII is by far the most common case and needs no property lookup.
        if (0x20...0x7E).contains(scalar.value) { return false }
        return isControl(scalar) || isInvisible(scalar)
    }

    /// The first control or invisible character of `text` outside `keeping`, if any.
    public static func firstHidden(in text: String, keeping: Set<Unicode.Scalar> = []) -> Unicode.Scalar? {
        text.unicodeScalars.first { isHidden($0) && !keeping.contains($0) }
    }

    /// `U+202E`, for messages that name a character.
    public static func codePoint(_ scalar: Unicode.Scalar) -> String {
        "U+" + scalar.value.padded(4, radix: 16, uppercase: true)
    }

    /// `text` with every control or invisible character (except those in `keeping`) written out in a
    /// visible form: `\x1B` for controls up to U+00FF, `\u{202E}` for the rest. Plain text comes back
    /// unchanged. Backslashes are not doubled: the result is for people, not to be parsed back.
    public static func escaped(_ text: String, keeping: Set<Unicode.Scalar> = []) -> String {
        guard text.unicodeScalars.contains(where: { isHidden($0) && !keeping.contains($0) }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isHidden(scalar), !keeping.contains(scalar) else {
                out.append(scalar)
                continue
            }
            let visible =
                scalar.value <= 0xFF
                ? "\\x" + scalar.value.padded(2, radix: 16, uppercase: true) : "\\u{" + scalar.value.padded(4, radix: 16, uppercase: true) + "}"
            out.append(contentsOf: visible.unicodeScalars)
        }
        return String(out)
    }

    /// Line breaks, kept by printers that lay out several lines themselves.
    public static let newlines: Set<Unicode.Scalar> = ["\n"]

    /// JSON text (as JSONEncoder writes it: C0 inside strings already escaped) with DEL, C1 and every
    /// invisible character inside strings written as `\uXXXX` escapes: still valid JSON that decodes to
    /// the same values, but safe to print. Whitespace between tokens is C0 and stays as it is.
    public static func jsonEscaped(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7F && isHidden($0) }) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            guard scalar.value >= 0x7F, isHidden(scalar) else {
                out.append(scalar)
                continue
            }
            for unit in String(scalar).utf16 { out.append(contentsOf: ("\\u" + unit.padded(4, radix: 16)).unicodeScalars) }
        }
        return String(out)
    }
}
