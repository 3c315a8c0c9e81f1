import Testing
import Pipelines

@Suite("Pipeline model")
struct PipelineModelTests {
    @Test("a pipeline finds its queues by name")
    func queueLookup() {
        let pipeline = Pipeline(name: "p", queues: [QueueDefinition(name: "a", maxsize: 4)],
                                stages: [Stage(name: "s", command: ["cat"], input: "a")])
        #expect(pipeline.queue("a")?.maxsize == 4)
        #expect(pipeline.queue("b") == nil)
    }
}
