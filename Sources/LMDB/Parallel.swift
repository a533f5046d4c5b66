#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Two pieces of work at once: one on a thread started for it, one on the caller's.
enum Parallel {
    static let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Runs `first` here and `second` on another thread; returns when both are done. When no
    /// thread can be started, runs them one after the other.
    static func run(_ first: () -> Void, _ second: () -> Void) {
        withoutActuallyEscaping(second) { second in
            let job = Job(second)
            let context = Unmanaged.passRetained(job).toOpaque()
            #if canImport(Glibc)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let started = pthread_create(&thread, nil, { context in
                guard let context else { return nil }
                let job = Unmanaged<Job>.fromOpaque(context).takeRetainedValue()
                job.body()
                return nil
            }, context) == 0
            first()
            if started {
                #if canImport(Glibc)
                pthread_join(thread, nil)
                #else
                if let thread { pthread_join(thread, nil) }
                #endif
            } else {
                Unmanaged<Job>.fromOpaque(context).release()
                second()
            }
        }
    }

    /// The work handed to the other thread, which it owns while it runs.
    private final class Job: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
