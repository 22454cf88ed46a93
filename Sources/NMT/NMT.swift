// The umbrella module: `import NMT` brings in every layer of swift-nmt.
@_exported import NMTAccelerator
@_exported import NMTData
@_exported import NMTInterop
@_exported import NMTLayers
@_exported import NMTSchedule
@_exported import NMTTensor
@_exported import NMTTransformer
