// swift-tools-version: 6.1
import CompilerPluginSupport
import PackageDescription

let package = Package(
    name: "swift-multiprocessing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Multiprocessing", targets: ["Multiprocessing"]),
        .library(name: "MessagePack", targets: ["MessagePack"]),
        .library(name: "MessagePackMacros", targets: ["MessagePackMacros"]),
        .library(name: "MultiprocessingServiceLifecycle", targets: ["MultiprocessingServiceLifecycle"]),
        .executable(name: "mpctl", targets: ["mpctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        // HMAC-SHA256 for the Listener/Client handshake (Connection/Authentication.swift); 4.x
        // imports FoundationEssentials, not Foundation, so children link no more than before.
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        // The runtime's metrics (CoreMetrics: no Foundation, so children link no more).
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        // Supervisor trees as services of a server (Sources/MultiprocessingServiceLifecycle).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        // TLS for remote peers (Remote/RemoteTLS.swift): BoringSSL through NIO.
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        // Pipeline files (Sources/Pipelines).
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        // @MessagePackCodable (Sources/MessagePackMacrosPlugin); only programs that import
        // MessagePackMacros build it.
        .package(url: "https://github.com/swiftlang/swift-syntax", exact: "603.0.1"),
    ],
    targets: [
        // Debian's libmsgpack-dev, linked statically (module.modulemap names libmsgpackc.a):
        // no pkgConfig here, or SwiftPM puts the shared -lmsgpackc first (NOTES-linux.md).
        .systemLibrary(
            name: "CMsgPack",
            providers: [.apt(["libmsgpack-dev"])]
        ),
        // What Glibc hides and the weak libFuzzer driver declaration.
        .target(name: "CShims"),
        .target(
            name: "MessagePack",
            dependencies: ["CMsgPack"]
        ),
        // @MessagePackCodable: direct encoding for annotated structs (MessagePackDirectCodable).
        .macro(
            name: "MessagePackMacrosPlugin",
            dependencies: [
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        .target(
            name: "MessagePackMacros",
            dependencies: ["MessagePack", "MessagePackMacrosPlugin"]
        ),
        .target(
            name: "Multiprocessing",
            dependencies: [
                "MessagePack", "CShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The worker executable the tests spawn: it registers the test entries (NOTES-linux.md:
        // in `swift test`, /proc/self/exe is the test bundle itself).
        .executableTarget(
            name: "MPTestWorker",
            dependencies: ["Multiprocessing", "MPTestEntries"],
            path: "Tests/MPTestWorker"
        ),
        // A program that forgets bootstrap and starts a child: the runtime must refuse it.
        .executableTarget(
            name: "MPForgetfulParent",
            dependencies: ["Multiprocessing"],
            path: "Tests/MPForgetfulParent"
        ),
        // The entries the test worker registers, shared with the tests that start them.
        .target(
            name: "MPTestEntries",
            dependencies: ["Multiprocessing"],
            path: "Tests/MPTestEntries"
        ),
        // A supervisor tree as a swift-service-lifecycle Service, apart so children do not link it.
        .target(
            name: "MultiprocessingServiceLifecycle",
            dependencies: [
                "Multiprocessing",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Pipelines as mpctl runs them: the model, the YAML file, the runner (docs/ARCHITECTURE.md).
        .target(
            name: "Pipelines",
            dependencies: [
                "Multiprocessing", "MessagePack",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "mpctl",
            dependencies: [
                "Multiprocessing", "Pipelines", "MessagePack",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target over the frame reader and the decoders (Fuzz/README.md).
        .executableTarget(
            name: "MessagePackFuzz",
            dependencies: ["MessagePack", "CMsgPack", "CShims"],
            path: "Fuzz/MessagePackFuzz"
        ),
        .executableTarget(
            name: "CodecTour",
            dependencies: ["MessagePack", "Multiprocessing"],
            path: "Examples/CodecTour"
        ),
        .executableTarget(
            name: "ProcessTour",
            dependencies: ["Multiprocessing"],
            path: "Examples/ProcessTour"
        ),
        // docs/PYTHON.md's worked port; ported_counter.py is the Python it ports.
        .executableTarget(
            name: "PortedCounter",
            dependencies: ["Multiprocessing"],
            path: "Examples/PortedCounter",
            exclude: ["ported_counter.py"]
        ),
        // What the examples share (a seeded generator for their made-up data).
        .target(
            name: "ExampleSupport",
            path: "Examples/Shared"
        ),
        // A map-reduce on a ProcessPool, checked against a count in one process (its README.md).
        .executableTarget(
            name: "WordCount",
            dependencies: ["Multiprocessing", "ExampleSupport"],
            path: "Examples/WordCount",
            exclude: ["README.md"]
        ),
        // Workers incrementing a SharedValue and a manager dictionary, exact totals (its README.md).
        .executableTarget(
            name: "SharedCounter",
            dependencies: ["Multiprocessing"],
            path: "Examples/SharedCounter",
            exclude: ["README.md"]
        ),
        // The flagship pipeline's Swift stages (generate, enrich, aggregate) and its checker;
        // pipeline.yaml runs them under mpctl with parse.py (Examples/LogPipeline/README.md).
        .executableTarget(
            name: "LogPipelineStages",
            dependencies: ["Multiprocessing", "ExampleSupport"],
            path: "Examples/LogPipeline",
            exclude: ["README.md", "parse.py", "pipeline.yaml", "out"]
        ),
        // A flaky worker restarted by policy, and one whose restart intensity runs out.
        .executableTarget(
            name: "Supervision",
            dependencies: ["Multiprocessing"],
            path: "Examples/Supervision",
            exclude: ["README.md", "flaky.yaml", "exhausted.yaml", "out"]
        ),
        .executableTarget(
            name: "MPBenchmarks",
            dependencies: ["MessagePack", "MessagePackMacros", "Multiprocessing"],
            path: "Benchmarks/Swift"
            // Built the default way (dynamically linked, no extra flags), as users build:
            // process starts are fast through the fork server, not through link flags.
        ),
        // The chaos runner (Benchmarks/chaos): a mixed load while workers are killed, then the checks.
        .executableTarget(
            name: "MPChaos",
            dependencies: ["Multiprocessing", .product(name: "CoreMetrics", package: "swift-metrics")],
            path: "Benchmarks/Chaos"
        ),
        .testTarget(
            name: "PipelinesTests",
            // The executables they run: mpctl and the examples' stages (built beside the bundle).
            dependencies: ["Pipelines", "Multiprocessing", "MessagePack", "mpctl", "LogPipelineStages", "Supervision", "CodecTour", "ProcessTour"]
        ),
        .testTarget(
            name: "MessagePackTests",
            dependencies: [
                "MessagePack", "MessagePackMacros", "MessagePackMacrosPlugin", "CMsgPack", "CShims",
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacrosTestSupport", package: "swift-syntax"),
            ]
        ),
        .testTarget(
            name: "MultiprocessingTests",
            dependencies: [
                "Multiprocessing", "MessagePack", "MPTestWorker", "MPTestEntries", "MPForgetfulParent", "mpctl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "MultiprocessingServiceLifecycle",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
