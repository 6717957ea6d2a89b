"""What the lowerings share, below the backend contract: the route walker over a lowered
graph (:mod:`.paths`), the array codec of program files (:mod:`.arrays`), quantization
(number formats, scale groups, decay quantizers, reports: :mod:`.quantize`) and resource
mapping (cores, populations, the mapper: :mod:`.mapping`).  ``nircc.passes`` keeps only
Graph -> Graph passes."""
