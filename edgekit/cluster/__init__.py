"""Many jobs in one command: the export and training matrix (models x input sizes x formats) run sequentially, as
local processes bounded by memory, or as Ray tasks on a cluster, with their artifacts landing in --out as a local run
lays them out. Ray loads only inside edgekit.cluster.raybackend."""
