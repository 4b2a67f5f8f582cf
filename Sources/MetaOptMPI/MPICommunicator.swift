import CMPI
import MetaOpt
