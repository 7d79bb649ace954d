import Foundation
import Yams

/// A configuration problem, with a message that names the file, line and setting.
public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
