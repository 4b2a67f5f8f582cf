/// Fashion-MNIST (and MNIST, which has the same files): 28×28 one-channel images, 10 classes,
/// 60,000 training and 10,000 test examples, in the IDX files
/// `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each gzipped (`.gz`, preferred when both exist) or plain.
///
/// Loaded data sets are cached in memory once per process (keyed by the files' paths).
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` package installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    public static func load(directory: String = defaultDirectory, split: DatasetSplit) throws(DataError) -> ImageDataset {
        try IDXDirectory.load(directory: directory, split: split)
    }
}

/// MNIST: the same IDX file names and format as `FashionMNIST`; there is no default location, so
/// point it at the directory that holds the four files.
public enum MNIST {
    public static func load(directory: String, split: DatasetSplit) throws(DataError) -> ImageDataset {
        try IDXDirectory.load(directory: directory, split: split)
    }
}

/// A directory with the four MNIST-style IDX files.
enum IDXDirectory {
    static func fileNames(_ split: DatasetSplit) -> (images: String, labels: String) {
        let prefix = split == .train ? "train" : "t10k"
        return ("\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte")
    }

    /// `directory/name.gz` if it exists, else `directory/name` if it exists; otherwise a missing-file
    /// error naming the `.gz` path.
    static func locate(_ directory: String, _ name: String) throws(DataError) -> String {
        let base = directory.hasSuffix("/") ? directory + name : directory + "/" + name
        if FileBytes.exists(base + ".gz") { return base + ".gz" }
        if FileBytes.exists(base) { return base }
        throw FileBytes.missing(base + ".gz")
    }

    static func load(directory: String, split: DatasetSplit) throws(DataError) -> ImageDataset {
        let names = fileNames(split)
        let imagesPath = try locate(directory, names.images)
        let labelsPath = try locate(directory, names.labels)
        let dataset = try DatasetCache.shared.dataset(forKey: key(imagesPath, labelsPath)) { () throws(DataError) in
            try IDX.loadDataset(imagesPath: imagesPath, labelsPath: labelsPath, classCount: 10)
        }
        // The other split, if loaded already (evaluate tunes the baselines on the training split
        // and scores on the test split): images of another size would be another network.
        let other = fileNames(split == .train ? .test : .train)
        if let otherImages = try? locate(directory, other.images), let otherLabels = try? locate(directory, other.labels),
           let loaded = DatasetCache.shared.cached(forKey: key(otherImages, otherLabels)),
           (loaded.height, loaded.width) != (dataset.height, dataset.width) {
            throw .malformed(path: imagesPath, reason: "has \(dataset.height)×\(dataset.width) images, but \(otherImages) has \(loaded.height)×\(loaded.width): a data set's splits must hold images of one size")
        }
        return dataset
    }

    private static func key(_ imagesPath: String, _ labelsPath: String) -> String { "idx|\(imagesPath)|\(labelsPath)" }
}
