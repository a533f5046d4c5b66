import Foundation
import Logging

/// What a server process (`commerce serve`, `commerce replica`) sets up before anything else.
public enum ServerSetup {
    public static func prepare() {
        // A reader of standard error (or of a data-platform FIFO) that has gone costs a failed
        // write, not the process: SIGPIPE's default would end it at its next log line.
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { LineLogHandler(label: $0) }
    }
}
